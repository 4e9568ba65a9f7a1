//! `migrate up --create-database`: it connects to the database first and only needs a
//! maintenance database (`postgres`, else `template1`, as `createdb` does) to create a missing
//! one; it says so on stderr (a dry run says it would, and creates nothing); and every refusal
//! that does not need the database comes before creating it.
//!
//! The maintenance cases run on a throwaway cluster whose `postgres` database is dropped (never
//! on the shared server); the others use a database name of their own on the shared server.

use std::sync::OnceLock;

use confiture::exit;
use confiture_test_support::reaper::DropRoleLater;
use confiture_tests::cluster::Cluster;
use confiture_tests::{unique, Project, TestDb};

fn two_migrations() -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_t1",
            "CREATE TABLE t1 (id int PRIMARY KEY);\n",
            "DROP TABLE t1;\n",
        )
        .migration(
            "002_create_t2",
            "CREATE TABLE t2 (id int PRIMARY KEY);\n",
            "DROP TABLE t2;\n",
        );
    project
}

/// The database the tests' own sessions use on the throwaway cluster: a session on
/// `template1` would make `CREATE DATABASE` (which copies it) fail.
const ADMIN_DB: &str = "test_admin";

/// A cluster without the `postgres` database, shared by this file's tests.
fn cluster_without_postgres() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = Cluster::init();
        cluster.start();
        let mut client = cluster.connect("postgres");
        client
            .batch_execute(&format!("CREATE DATABASE {ADMIN_DB}"))
            .expect("create the tests' own database");
        drop(client);
        cluster
            .connect(ADMIN_DB)
            .batch_execute("DROP DATABASE postgres")
            .expect("drop the postgres database of the throwaway cluster");
        cluster
    })
}

fn database_exists(cluster: &Cluster, name: &str) -> bool {
    database_exists_on(cluster, ADMIN_DB, name)
}

#[test]
fn an_existing_database_needs_no_maintenance_database() {
    let cluster = cluster_without_postgres();
    let name = unique("cft_exists");
    cluster
        .connect(ADMIN_DB)
        .batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
        .expect("create the database");
    let url = cluster.url(&name, "sslmode=disable");
    let project = two_migrations();
    project
        .run(&["migrate", "up", "--create-database", "--database-url", &url])
        .code(exit::SUCCESS)
        .stderr_lacks("created database")
        .stdout_has("applied 2 migrations");
    project
        .run(&[
            "migrate",
            "up",
            "--create-database",
            "--dry-run",
            "--database-url",
            &url,
        ])
        .code(exit::SUCCESS)
        .stderr_lacks("would create");
}

#[test]
fn a_missing_database_is_created_through_template1_when_postgres_is_gone() {
    let cluster = cluster_without_postgres();
    let name = unique("cft_fallback");
    let url = cluster.url(&name, "sslmode=disable");
    two_migrations()
        .run(&["migrate", "up", "--create-database", "--database-url", &url])
        .code(exit::SUCCESS)
        .stderr_has(&format!("created database \"{name}\""));
    assert!(database_exists(cluster, &name));
}

/// A database name holding `"` was shown SQL-escaped (`created database "cft_q""x"`) while every
/// other line (`using --database-url: .../cft_q"x`, a refusal's `database "cft_q"x" does not
/// exist`) shows it as it is: the created lines quote it as every message quotes a database.
#[test]
fn a_created_databases_name_is_shown_as_every_other_line_shows_it() {
    let name = format!("{}\"x", unique("cft_quote"));
    let url = confiture_tests::server().url(&name.replace('"', "%22"));
    let shown = format!("\"{name}\"");
    let project = two_migrations();
    project
        .run(&["migrate", "status", "--database-url", &url])
        .stderr_has(&format!("/{name}\n"))
        .stderr_has(&format!("database {shown} does not exist"));
    project
        .run(&[
            "migrate",
            "up",
            "--create-database",
            "--dry-run",
            "--database-url",
            &url,
        ])
        .code(exit::SUCCESS)
        .stderr_has(&format!("would create database {shown}: it does not exist"))
        .stderr_lacks("\"\"");
    let run = project.run(&["migrate", "up", "--create-database", "--database-url", &url]);
    TestDb::new("quote_admin")
        .connect()
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        ))
        .expect("drop the database");
    run.code(exit::SUCCESS)
        .stderr_has(&format!("created database {shown}\n"))
        .stderr_lacks("\"\"");
}

#[test]
fn creating_a_database_says_so_on_stderr_once() {
    let db = TestDb::unborn("cr_says");
    let project = two_migrations();
    let run = project.run_on(&db, &["migrate", "up", "--create-database"]);
    run.code(exit::SUCCESS)
        .stderr_has(&format!("created database \"{}\"", db.name))
        .stdout_lacks("created database");
    assert!(db.exists());
    project
        .run_on(&db, &["migrate", "up", "--create-database"])
        .code(exit::SUCCESS)
        .stderr_lacks("created database")
        .stdout_has("already up to date");
}

#[test]
fn a_dry_run_says_it_would_create_the_database_and_creates_nothing() {
    let db = TestDb::unborn("cr_dry");
    let project = two_migrations();
    project
        .run_on(&db, &["migrate", "up", "--create-database", "--dry-run"])
        .code(exit::SUCCESS)
        .stderr_has(&format!("would create database \"{}\"", db.name))
        .stdout_has("001_create_t1")
        .stdout_has("002_create_t2");
    assert!(!db.exists());
    let json = project
        .run_on(
            &db,
            &[
                "migrate",
                "up",
                "--create-database",
                "--dry-run",
                "--format",
                "json",
            ],
        )
        .code(exit::SUCCESS)
        .json();
    assert_eq!(json["dry_run"], true, "{json}");
    assert_eq!(
        json["migrations"].as_array().map(Vec::len),
        Some(2),
        "{json}"
    );
    assert!(!db.exists());
}

/// Refusals that do not need the database's contents come before creating it: usage errors
/// (`--single-transaction` with a `no-transaction` file, `--steps 0`, an unknown `--target`)
/// and broken migration files.
#[test]
fn refusals_come_before_creating_the_database() {
    let project = two_migrations();
    project.migration(
        "003_index",
        "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t1_id ON t1 (id);\n",
        "-- confiture:no-transaction\nDROP INDEX CONCURRENTLY t1_id;\n",
    );
    let cases: [(&[&str], u8); 3] = [
        (&["--single-transaction"], exit::USAGE),
        (&["--steps", "0"], exit::USAGE),
        (&["--target", "42"], exit::USAGE),
    ];
    for (flags, code) in cases {
        let db = TestDb::unborn("cr_refuse");
        let mut args = vec!["migrate", "up", "--create-database"];
        args.extend_from_slice(flags);
        let run = project.run_on(&db, &args);
        run.code(code).stderr_lacks("created database");
        assert!(
            !db.exists(),
            "{flags:?} created the database\n{}",
            run.dump()
        );
    }
    let broken = Project::new();
    broken.write(
        "db/migrations/001_no_down.up.sql",
        "CREATE TABLE t (id int);\n",
    );
    let db = TestDb::unborn("cr_refuse");
    broken
        .run_on(&db, &["migrate", "up", "--create-database"])
        .code(exit::INVALID);
    assert!(!db.exists());
}

/// The server's refusal to create the database is helped by its SQLSTATE: a session connected
/// to the template database (55006, which `CREATE DATABASE` copies) is named, with the query
/// that finds it and no word of CREATEDB, which the role has; only a role without the privilege
/// (42501) is told to get it. On a cluster of its own: a session left on `template1` of the
/// shared server would make every other test's `CREATE DATABASE` fail meanwhile.
#[test]
fn a_refused_create_database_is_helped_by_its_sqlstate() {
    let cluster = Cluster::init();
    cluster.start();
    let project = two_migrations();

    let on_template = cluster.connect("template1");
    let url = cluster.url(&unique("cft_busy"), "sslmode=disable");
    project
        .run(&["migrate", "up", "--create-database", "--database-url", &url])
        .code(exit::CONNECTION)
        .stderr_has("SQLSTATE 55006")
        .stderr_has("other sessions are connected to the template database")
        .stderr_has(
            "FROM pg_catalog.pg_stat_activity WHERE datname OPERATOR(pg_catalog.=) 'template1'",
        )
        .stderr_has("run the command again")
        .stderr_lacks("CREATEDB");
    drop(on_template);

    cluster
        .connect("postgres")
        .batch_execute("CREATE ROLE cft_no_createdb LOGIN NOCREATEDB")
        .expect("create a role without CREATEDB");
    // A name holding `"`: the refusal names it as every message names a database
    // (`"cft_denied_..."x"`), not SQL-escaped (`""`) (h19 F17).
    let denied = format!("{}\"x", unique("cft_denied"));
    let url = format!(
        "postgresql://cft_no_createdb@localhost:{}/{}?sslmode=disable",
        cluster.port(),
        denied.replace('"', "%22")
    );
    let refused = format!("cannot create database \"{denied}\" on ");
    project
        .run(&["migrate", "up", "--create-database", "--database-url", &url])
        .code(exit::CONNECTION)
        .stderr_has(&refused)
        .stderr_lacks("\"\"")
        .stderr_has("SQLSTATE 42501")
        .stderr_has("grant this role CREATEDB")
        .stderr_lacks("pg_stat_activity");
    // Its dry run said "would create database" and exited 0: refused as the run is, from the
    // maintenance session it holds.
    for json in [false, true] {
        let mut args = vec![
            "migrate",
            "up",
            "--create-database",
            "--dry-run",
            "--database-url",
            &url,
        ];
        if json {
            args.extend(["--format", "json"]);
        }
        let run = project.run(&args);
        run.code(exit::CONNECTION)
            .stderr_has(&refused)
            .stderr_has("may not create databases")
            .stderr_has("grant this role CREATEDB")
            .stderr_lacks("would create");
        if json {
            run.json();
        }
    }
}

/// A maintenance database that refuses the session (`postgres` missing, `template1` not
/// accepting connections) was told "name another database in --database-url", which changes
/// what is created: the help is about the maintenance database, the detail says `postgres`
/// was tried first; for the run and its dry run alike.
#[test]
fn a_refusing_maintenance_database_is_named_as_such() {
    let cluster = Cluster::init();
    cluster.start();
    cluster
        .connect("postgres")
        .batch_execute(&format!("CREATE DATABASE {ADMIN_DB}"))
        .expect("create the tests' own database");
    let mut admin = cluster.connect(ADMIN_DB);
    for sql in [
        "DROP DATABASE postgres",
        "ALTER DATABASE template1 ALLOW_CONNECTIONS false",
    ] {
        admin
            .batch_execute(sql)
            .expect("leave no maintenance database to connect to");
    }
    drop(admin);
    let project = two_migrations();
    let name = unique("cft_nomaint");
    let url = cluster.url(&name, "sslmode=disable");
    for dry_run in [false, true] {
        let mut args = vec!["migrate", "up", "--create-database", "--database-url", &url];
        if dry_run {
            args.push("--dry-run");
        }
        project
            .run(&args)
            .code(exit::CONNECTION)
            .stderr_has("SQLSTATE 55000")
            .stderr_has("postgres does not exist, so template1 was tried")
            .stderr_has("ALTER DATABASE template1 ALLOW_CONNECTIONS true")
            .stderr_has("--maintenance-db=")
            .stderr_lacks("name another database");
    }
    assert!(!database_exists_on(&cluster, ADMIN_DB, &name));
}

/// `up --create-database --schema public` on a missing database let the tenant through
/// unchecked and created it with the tenant `public`, whose ledger is the whole database's;
/// the same command on the existing database is refused (exit 5). Refused before the database
/// is created, as the new database would resolve its ledger; the dry run too.
#[test]
fn a_tenant_holding_the_new_databases_ledger_is_refused_before_creating_it() {
    let project = two_migrations();
    let db = TestDb::unborn("cr_tenant");
    for dry_run in [true, false] {
        let mut args = vec!["migrate", "up", "--create-database", "--schema", "public"];
        if dry_run {
            args.push("--dry-run");
        }
        project
            .run_on(&db, &args)
            .code(exit::INVALID)
            .stderr_has("public would hold the whole database's tracking table public.tb_confiture")
            .stderr_lacks("ALTER DATABASE")
            .stderr_lacks("created database")
            .stderr_lacks("would create");
        assert!(!db.exists());
    }
}

/// The same before creating a database for a tenant named like the login role: the new
/// database's search_path, `"$user", public`, names it, so the whole database's unqualified
/// names would resolve into the tenant's schema once created. Refused before the database is.
#[test]
fn a_tenant_named_by_the_new_databases_search_path_is_refused_before_creating_it() {
    let project = two_migrations();
    let db = TestDb::unborn("cr_tenant_user");
    let user: String = confiture_tests::admin()
        .query_one("SELECT current_user::text", &[])
        .expect("current_user")
        .get(0);
    for dry_run in [true, false] {
        let mut args = vec!["migrate", "up", "--create-database", "--schema", &user];
        if dry_run {
            args.push("--dry-run");
        }
        project
            .run_on(&db, &args)
            .code(exit::INVALID)
            .stderr_has(&format!(
                "{user} is on the whole database's search_path (`\"$user\", public`"
            ))
            .stderr_lacks("created database")
            .stderr_lacks("would create");
        assert!(!db.exists());
    }
}

/// The maintenance connection's password is the password file's line for the maintenance
/// database, as libpq (and `createdb`) would pick it, never the line of the database being
/// created: here the target's line has a wrong password (the target itself is trusted by
/// `pg_hba.conf`, so only the maintenance session checks it) and `postgres`'s the right one.
#[test]
fn the_maintenance_connection_takes_its_own_password_file_line() {
    let target = unique("cft_pgpass");
    let cluster = Cluster::init();
    cluster.configure(
        "",
        &format!(
            "local all all trust\n\
             host {target} all 127.0.0.1/32 trust\n\
             host {target} all ::1/128 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n"
        ),
    );
    cluster.start();
    cluster
        .connect("postgres")
        .batch_execute("CREATE ROLE cft_app LOGIN CREATEDB PASSWORD 'right'")
        .expect("create a role with a password");
    let project = two_migrations();
    let passfile = project.path("pgpass");
    std::fs::write(
        &passfile,
        format!("*:*:{target}:cft_app:wrong\n*:*:postgres:cft_app:right\n"),
    )
    .expect("write the password file");
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod 600 the password file");
    let url = format!(
        "postgresql://cft_app@localhost:{}/{target}?sslmode=disable",
        cluster.port()
    );
    confiture_tests::Run::of(
        project
            .cli()
            .env("PGPASSFILE", &passfile)
            .env_remove("PGPASSWORD")
            .args(["migrate", "up", "--create-database", "--database-url", &url]),
    )
    .code(0)
    .stderr_has(&format!("created database \"{target}\""));
    assert!(database_exists_on(&cluster, "postgres", &target));
}

/// Whether `name` exists, asked on a session on `admin_db`.
fn database_exists_on(cluster: &Cluster, admin_db: &str, name: &str) -> bool {
    cluster
        .connect(admin_db)
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .expect("list databases")
        .is_some()
}

/// h17 F4, the same class: `up --target 1` (or `--steps 1`) on a database that does not exist
/// said "create it (`cargo confiture migrate up --create-database` does ...)": followed, it
/// created the database and applied every migration, more than was asked. The suggestion keeps
/// the request's bound and flags, with `--create-database`.
#[test]
fn a_missing_databases_help_keeps_the_requests_bound() {
    let project = two_migrations();
    let db = TestDb::unborn("hints_cr_bound");
    for (args, suggested) in [
        (
            &["--target", "1"][..],
            "`cargo confiture migrate up --target 001 --create-database --database-url <URL>`",
        ),
        (
            &["--steps", "1", "--allow-destructive"],
            "`cargo confiture migrate up --steps 1 --allow-destructive --create-database \
             --database-url <URL>`",
        ),
    ] {
        let run = project.run_on(&db, &[&["migrate", "up"][..], args].concat());
        run.code(exit::CONNECTION);
        assert_eq!(
            run.help_line(),
            format!(
                "help: create it ({suggested} does, or createdb -h {} -p {} -U postgres {}), or \
                 fix the database name in --database-url",
                confiture_tests::pg_host(),
                confiture_tests::pg_port(),
                db.name
            ),
            "{args:?}"
        );
    }
    project
        .paste(&format!(
            "`cargo confiture migrate up --target 001 --create-database --database-url {}`",
            db.url()
        ))
        .code(exit::SUCCESS);
    assert_eq!(
        db.ledger().map(|l| l.len()),
        Some(1),
        "002 was not asked for"
    );
}

/// A database that does not exist, with a confiture (Python) migration among the files: every
/// command's help said "create it (`migrate up --create-database` does ...)", but that `up`
/// refuses before creating anything while a `.py` migration is pending (cargo confiture cannot
/// run it). The help creates it with `createdb` and applies the migrations with confiture
/// (Python), or those before the `.py` file with `up --create-database --target V` (which,
/// pasted, works); without a `.py` file the help is the `--create-database` one still.
#[test]
fn a_missing_database_with_a_python_migration_is_not_told_to_create_database() {
    let db = TestDb::unborn("missing_py");
    let url = db.url();
    let project = two_migrations();
    project.write(
        "db/migrations/003_data.py",
        "def up(connection):\n    pass\n",
    );
    let mut suggested = None;
    for command in [
        &["status"][..],
        &["up"],
        &["down"],
        &["baseline", "--through", "001"],
    ] {
        let run = confiture_tests::Run::of(
            project
                .cli()
                .arg("migrate")
                .args(command)
                .args(["--database-url", &url]),
        );
        run.code(exit::CONNECTION)
            .stderr_has("createdb -h")
            // Every command's help, `status`'s too, gives confiture (Python)'s `up` the
            // database the run named: bare, it would read `db/environments/local.yaml`.
            .stderr_has(
                "apply the migrations with confiture (Python) (`confiture migrate up \
                 --database-url <URL>`), which runs `003_data.py` too",
            )
            .stderr_lacks("--create-database` does");
        let stderr = &run.stderr;
        let at = stderr
            .find("`cargo confiture migrate up --create-database --target 002")
            .unwrap_or_else(|| panic!("{command:?}: {}", run.dump()));
        let end = stderr[at + 1..].find('`').unwrap() + at + 2;
        suggested = Some(stderr[at..end].to_string());
    }
    // What the help's `up --create-database --target` says is true: it creates the database
    // and applies the migrations before the `.py` one.
    let suggested = suggested.unwrap().replace("<URL>", &format!("'{url}'"));
    project.paste(&suggested).code(exit::SUCCESS);
    assert!(db.has_relation("t2"));
    // A `.py` file first: nothing cargo confiture could apply before it, no `--target`.
    let other = TestDb::unborn("missing_py_first");
    let first = Project::new();
    first.write(
        "db/migrations/001_data.py",
        "def up(connection):\n    pass\n",
    );
    confiture_tests::Run::of(
        first
            .cli()
            .args(["migrate", "up", "--database-url", &other.url()]),
    )
    .code(exit::CONNECTION)
    .stderr_has("which runs `001_data.py` too")
    .stderr_lacks("--target");
    // No `.py` file: `up --create-database` creates it and applies everything.
    confiture_tests::Run::of(two_migrations().cli().args([
        "migrate",
        "status",
        "--database-url",
        &other.url(),
    ]))
    .code(exit::CONNECTION)
    .stderr_has("--create-database --database-url <URL>` does")
    .stderr_lacks("confiture (Python)");
}

/// `up --create-database --schema S` read the `search_path` of the maintenance session (on
/// `postgres`) as the new database's: a setting of `postgres` alone (here the role's `IN
/// DATABASE postgres`) was taken for the new database's, which has none of its own — a tenant
/// only that path names was refused, and one the role's own path names everywhere (`ALTER ROLE
/// ... SET`, hidden under `postgres`'s) was let through and the database created. The new
/// database's path is the role's, else the server's, and the refusal names where it is set;
/// the dry run decides the same.
#[test]
fn a_new_databases_search_path_is_not_the_maintenance_databases() {
    let project = two_migrations();
    let role = DropRoleLater(unique("cr_path_role"));
    let name = &role.0;
    let mut admin = confiture_tests::admin();
    admin
        .batch_execute(&format!("CREATE ROLE \"{name}\" LOGIN CREATEDB"))
        .expect("create the role");
    // (the role's own path, its path in `postgres` alone, the tenant, refused)
    for (everywhere, in_postgres, tenant, refused) in [
        (None, "tenant_m", "tenant_m", false),
        (Some("tenant_r"), "public", "tenant_r", true),
    ] {
        admin
            .batch_execute(&format!(
                "ALTER ROLE \"{name}\" RESET ALL; \
                 ALTER ROLE \"{name}\" IN DATABASE postgres SET search_path = {in_postgres}"
            ))
            .expect("set the role's path in postgres");
        if let Some(path) = everywhere {
            admin
                .batch_execute(&format!("ALTER ROLE \"{name}\" SET search_path = {path}"))
                .expect("set the role's path");
        }
        for dry_run in [true, false] {
            let db = TestDb::unborn("cr_path");
            let run = up_creating_for_tenant(&project, name, &db, tenant, dry_run);
            if refused {
                run.code(exit::INVALID)
                    .stderr_has(&format!(
                        "{tenant} is on the whole database's search_path (`{tenant}`"
                    ))
                    // Never a change of the role's path, which every session of it gets.
                    .stderr_lacks("ALTER ROLE")
                    .stderr_lacks("created database");
                assert!(!db.exists(), "{tenant}: refused before creating it");
            } else {
                run.code(exit::SUCCESS)
                    .stderr_lacks("whole database's search_path");
                assert_eq!(db.exists(), !dry_run, "{tenant}, dry run {dry_run}");
            }
        }
    }
}

/// `up --create-database --schema tenant` (a dry run with `dry_run`) of `project` on the
/// database `db`, which does not exist yet, logged in as `role`.
fn up_creating_for_tenant(
    project: &Project,
    role: &str,
    db: &TestDb,
    tenant: &str,
    dry_run: bool,
) -> confiture_tests::Run {
    let url = confiture_tests::server().url_as(role, None, &db.name);
    let mut args = vec![
        "migrate",
        "up",
        "--create-database",
        "--schema",
        tenant,
        "--database-url",
        &url,
    ];
    if dry_run {
        args.push("--dry-run");
    }
    project.run(&args)
}

/// N25: a database that does not exist, named by an environment file, is to be fixed on the
/// line that names it — the legacy block's `database.database` as `database_url` — not
/// somewhere in the file.
#[test]
fn a_missing_databases_help_names_the_line_of_its_name() {
    let project = two_migrations();
    let db = TestDb::unborn("hints_cr_line");
    project.write(
        "db/environments/legacy.yaml",
        format!(
            "# the legacy block\ndatabase:\n  host: {}\n  port: {}\n  database: {}\n  user: postgres\n",
            confiture_tests::pg_host(),
            confiture_tests::pg_port(),
            db.name
        ),
    );
    project.write(
        "db/environments/url.yaml",
        format!("application_name: x\ndatabase_url: {}\n", db.url()),
    );
    for (env, at) in [
        (
            "legacy",
            "db/environments/legacy.yaml, line 5 (database.database)",
        ),
        ("url", "db/environments/url.yaml, line 2 (database_url)"),
    ] {
        project
            .run(&["migrate", "status", "--env", env])
            .code(exit::CONNECTION)
            .stderr_has(&format!(
                "or fix the database name in environment file {at}"
            ));
    }
}

/// A refused connection's help said "check them in environment file F" and a failed
/// authentication's "check the user and password in environment file F", where every other
/// problem of a file names its line: each names the lines of the keys that gave what it is
/// about — `database_url`, or the legacy block's `database.host` and `database.port`,
/// `database.user` and `database.password` — by `--env` and by `-c PATH` alike.
#[test]
fn a_connection_helps_name_the_lines_of_what_they_are_about() {
    let project = two_migrations();
    project.write(
        "db/environments/url.yaml",
        "application_name: x\ndatabase_url: postgresql://postgres@127.0.0.1:1/x\n",
    );
    project.write(
        "db/environments/legacy.yaml",
        "# the legacy block\ndatabase:\n  host: 127.0.0.1\n  port: 1\n  database: x\n  user: postgres\n",
    );
    project.write(
        "db/environments/nobody.yaml",
        format!(
            "database:\n  host: {}\n  port: {}\n  database: postgres\n  user: cft_no_such_role\n  \
             password: wrong\n",
            confiture_tests::pg_host(),
            confiture_tests::pg_port(),
        ),
    );
    project.write(
        "db/environments/nohost.yaml",
        "database:\n  database: x\n  host: cft-no-such-host.invalid\n",
    );
    let refused = "is PostgreSQL running and listening on that host and port? check them in \
                   environment file";
    let cases: [(&[&str], String); 6] = [
        (
            &["--env", "url"],
            format!("{refused} db/environments/url.yaml, line 2 (database_url)"),
        ),
        (
            &["--env", "legacy"],
            format!(
                "{refused} db/environments/legacy.yaml, lines 3 and 4 (database.host, \
                 database.port)"
            ),
        ),
        (
            &["-c", "db/environments/legacy.yaml"],
            format!(
                "{refused} db/environments/legacy.yaml, lines 3 and 4 (database.host, \
                 database.port)"
            ),
        ),
        (
            &["--env", "nobody"],
            "check the user and password in environment file db/environments/nobody.yaml, \
             lines 5 and 6 (database.user, database.password)"
                .to_string(),
        ),
        (
            &["-c", "db/environments/url.yaml"],
            format!("{refused} db/environments/url.yaml, line 2 (database_url)"),
        ),
        (
            &["--env", "nohost"],
            "check the host name in environment file db/environments/nohost.yaml, line 3 \
             (database.host)"
                .to_string(),
        ),
    ];
    for (selection, help) in cases {
        let mut args = vec!["migrate", "status"];
        args.extend_from_slice(selection);
        project
            .run(&args)
            .code(exit::CONNECTION)
            .stderr_has(&format!("help: {help}"));
    }
}

/// The database named `existing`'s name with its first letter dropped: a misspelling of it
/// (not its last character, a digit of [`unique`]'s: a name differing from another only in its
/// numbers is a new one of a series, never a misspelling).
fn misspelt(existing: &str) -> &str {
    &existing[1..]
}

/// dbn: a database name mistyped in an environment file (`app_stagin` for `app_staging`) got
/// the help "create it (`migrate up --create-database` does, or createdb ...), or fix the
/// database name": followed first, it made a new empty database and ran every migration into
/// it, "success" on the wrong database. The server is asked (on its maintenance database:
/// `template1` here, the cluster having no `postgres`) for a database with a close name, named
/// first, with the line to fix; creating comes after, for a database meant to be new. `down`
/// (which never creates one) names it first too.
#[test]
fn a_missing_databases_help_names_a_close_existing_database_first() {
    let cluster = cluster_without_postgres();
    let existing = unique("cft_staging");
    cluster
        .connect(ADMIN_DB)
        .batch_execute(&format!(
            "CREATE DATABASE \"{existing}\" TEMPLATE template0"
        ))
        .expect("create the database meant");
    let missing = misspelt(&existing);
    let project = two_migrations();
    project.write(
        "db/environments/staging.yaml",
        format!(
            "database_url: {}\n",
            cluster.url(missing, "sslmode=disable")
        ),
    );
    let close =
        format!("help: a database named \"{existing}\" exists on this server: did you mean it? ");
    for command in ["status", "up", "down"] {
        let run = project.run(&["migrate", command, "--env", "staging"]);
        run.code(exit::CONNECTION);
        let help = run.help_line();
        assert!(help.starts_with(&close), "{command}: {help}");
        if command != "down" {
            assert!(
                help.starts_with(&format!(
                    "{close}fix the database name in environment file \
                     db/environments/staging.yaml, line 1 (database_url); only if \
                     \"{missing}\" is to be a new database, create it"
                )),
                "{command}: {help}"
            );
        }
    }
    assert!(!database_exists(cluster, missing));
}

/// dbn: the server is asked for close names with the target's own role; a role that may not
/// connect to the maintenance databases (`postgres`, `template1`) gets the help as it was,
/// with no second error — while a role that may, on the same server, is told of the close
/// name (the look-up is what differs).
#[test]
fn a_role_that_cannot_list_databases_gets_the_help_unchanged() {
    let cluster = Cluster::init();
    cluster.start();
    let mut admin = cluster.connect("postgres");
    for sql in [
        "CREATE DATABASE app_staging",
        "CREATE ROLE cft_app LOGIN",
        "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC",
        "REVOKE CONNECT ON DATABASE template1 FROM PUBLIC",
    ] {
        admin
            .batch_execute(sql)
            .expect("a role without CONNECT on the maintenance databases");
    }
    drop(admin);
    let project = two_migrations();
    let url = format!(
        "postgresql://cft_app@localhost:{}/app_stagin?sslmode=disable",
        cluster.port()
    );
    let run = project.run(&["migrate", "status", "--database-url", &url]);
    run.code(exit::CONNECTION).stderr_lacks("did you mean");
    assert_eq!(
        run.help_line(),
        format!(
            "help: create it (`cargo confiture migrate up --create-database --database-url \
             <URL>` does, or createdb -h localhost -p {} -U cft_app app_stagin), or fix the \
             database name in --database-url",
            cluster.port()
        )
    );
    assert_eq!(run.stderr.matches("error:").count(), 1, "{}", run.stderr);
    project
        .run(&[
            "migrate",
            "status",
            "--database-url",
            &cluster.url("app_stagin", "sslmode=disable"),
        ])
        .code(exit::CONNECTION)
        .stderr_has("a database named \"app_staging\" exists on this server: did you mean it?");
}

/// dbn: `up --create-database` on a missing database whose name is close to an existing one's
/// creates it as asked (close names also tell numbered databases apart: `ci_41`, `ci_42`), but
/// says first, as a warning on stderr, that the existing one may be the one meant and the new
/// one an empty near-duplicate; the dry run says it too and creates nothing.
#[test]
fn create_database_warns_of_a_close_existing_database() {
    let cluster = cluster_without_postgres();
    let existing = unique("cft_ci_run");
    cluster
        .connect(ADMIN_DB)
        .batch_execute(&format!(
            "CREATE DATABASE \"{existing}\" TEMPLATE template0"
        ))
        .expect("create the database meant");
    let missing = misspelt(&existing);
    let url = cluster.url(missing, "sslmode=disable");
    let warning = format!(
        "warning: database \"{missing}\" does not exist and --create-database creates it, but \
         a database named \"{existing}\" exists on this server: if that is the one meant, the \
         new database is an empty near-duplicate"
    );
    let project = two_migrations();
    let args = ["migrate", "up", "--create-database", "--database-url", &url];
    project
        .run(&[&args[..], &["--dry-run"]].concat())
        .code(exit::SUCCESS)
        .stderr_has(&warning)
        .stderr_has(&format!("would create database \"{missing}\""));
    assert!(!database_exists(cluster, missing));
    project
        .run(&args)
        .code(exit::SUCCESS)
        .stderr_has(&warning)
        .stderr_has(&format!("created database \"{missing}\""));
    assert!(database_exists(cluster, missing));
}

/// The sessions opened so far on `database` (`pg_stat_database.sessions`, PostgreSQL 14+),
/// read from `admin` once every other session there has ended and reported it.
fn sessions_on(admin: &mut postgres::Client, database: &str) -> i64 {
    let gone = format!(
        "SELECT count(*) = 0 FROM pg_stat_activity WHERE datname = '{database}' \
         AND pid <> pg_backend_pid()"
    );
    confiture_tests::cluster::wait_until(
        "the sessions on the maintenance database to end",
        std::time::Duration::from_secs(20),
        || {
            admin
                .query_one(gone.as_str(), &[])
                .unwrap()
                .get::<_, bool>(0)
        },
    );
    admin
        .batch_execute("SELECT pg_stat_clear_snapshot()")
        .unwrap();
    admin
        .query_one(
            "SELECT sessions FROM pg_stat_database WHERE datname = $1",
            &[&database],
        )
        .unwrap()
        .get(0)
}

/// hwt: `up --create-database` asks the server for a database with a close name once, on one
/// short session on the maintenance database: it asked twice — once to explain the missing
/// database in an error that connecting then dropped (a missing database is no error there),
/// and once to say it before creating. The run opens two sessions there, that look-up and the
/// one that creates; its dry run the same two (the look-up, and the one that checks the role
/// may create). On a cluster of its own, whose `postgres` database no other test uses.
#[test]
fn create_database_looks_up_close_names_once() {
    let cluster = Cluster::init();
    cluster.start();
    cluster
        .connect("postgres")
        .batch_execute(&format!("CREATE DATABASE {ADMIN_DB}"))
        .expect("create the test's own database");
    let mut admin = cluster.connect(ADMIN_DB);
    let existing = "cft_close_run";
    admin
        .batch_execute(&format!("CREATE DATABASE {existing} TEMPLATE template0"))
        .expect("create the database meant");
    let missing = misspelt(existing);
    let url = cluster.url(missing, "sslmode=disable");
    let project = two_migrations();
    let args = ["migrate", "up", "--create-database", "--database-url", &url];
    for dry_run in [true, false] {
        let before = sessions_on(&mut admin, "postgres");
        let run = match dry_run {
            true => project.run(&[&args[..], &["--dry-run"]].concat()),
            false => project.run(&args),
        };
        run.code(exit::SUCCESS).stderr_has(&format!(
            "a database named \"{existing}\" exists on this server"
        ));
        let opened = sessions_on(&mut admin, "postgres") - before;
        assert_eq!(opened, 2, "dry run: {dry_run}");
    }
    assert!(database_exists_on(&cluster, ADMIN_DB, missing));
}

/// Three `up --create-database` at once on a missing database whose name is close to an
/// existing one's: each warned that it "creates" a near-duplicate to drop, one said "created
/// database", and the others never said that another run had created it. A run that finds the
/// database created by another session meanwhile says so, once, and warns of no close name
/// (it created nothing to drop); it then migrates the database as it finds it. The race made
/// certain: on a throwaway cluster, a transaction holds a lock on `template1` (`COMMENT ON
/// DATABASE`), so the run's `CREATE DATABASE`, made from it after the run found the database
/// missing, waits; another session creates the database from `template0` meanwhile.
#[test]
fn a_database_created_meanwhile_by_another_session_is_said_so_and_warned_of_by_none() {
    let cluster = Cluster::init();
    cluster.start();
    let mut admin = cluster.connect("postgres");
    let existing = "hdx_race_run";
    admin
        .batch_execute(&format!("CREATE DATABASE {existing} TEMPLATE template0"))
        .expect("create the database with a close name");
    let missing = misspelt(existing);
    admin
        .batch_execute("BEGIN; COMMENT ON DATABASE template1 IS 'held by the test'")
        .expect("hold a lock on template1");
    let project = two_migrations();
    let url = cluster.url(missing, "sslmode=disable");
    let child = project.spawn(&["migrate", "up", "--create-database", "--database-url", &url]);
    let mut other = cluster.connect("postgres");
    confiture_tests::cluster::wait_until(
        "the run's CREATE DATABASE waits for template1",
        std::time::Duration::from_secs(60),
        || {
            other
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                     AND query LIKE 'CREATE DATABASE%'",
                    &[],
                )
                .unwrap()
                .get::<_, i64>(0)
                == 1
        },
    );
    other
        .batch_execute(&format!("CREATE DATABASE {missing} TEMPLATE template0"))
        .expect("another session creates the database meanwhile");
    admin.batch_execute("ROLLBACK").expect("let template1 go");
    let output = child.wait_with_output().expect("the run ends");
    let run = confiture_tests::Run::from_output(output, std::time::Duration::ZERO);
    run.code(exit::SUCCESS)
        .stderr_has(&format!(
            "database \"{missing}\" did not exist, and another session created it before \
             this run could (another `--create-database`?): this run created nothing, and \
             migrates it as it is\n"
        ))
        .stderr_lacks("created database")
        .stderr_lacks("near-duplicate")
        .stderr_lacks(existing);
    assert_eq!(
        run.stderr.matches("another session created it").count(),
        1,
        "{}",
        run.dump()
    );
    let applied: i64 = cluster
        .connect(missing)
        .query_one("SELECT count(*) FROM tb_confiture", &[])
        .expect("the ledger")
        .get(0);
    assert_eq!(applied, 2, "the run migrated the database it found");
}

/// A role whose sessions may write no temporary file (`ALTER ROLE ... SET temp_file_limit =
/// 0`, a tiny `work_mem`) and with many settings of its own, so that `pg_settings` (a function
/// building every setting's row in a tuple store) spills past `work_mem`: where a tenant's
/// ledger would be in the database `--create-database` is about to create, read on the
/// maintenance session (the new database's `search_path`: `pg_settings`, `pg_db_role_setting`)
/// without the tool's own reads' bounds, was refused ("cannot tell where the tracking table of
/// the database ... to create would be: temporary file size exceeds temp_file_limit", exit 3),
/// the dry run too. Every read there has them now: both succeed.
#[test]
fn the_new_databases_search_path_is_read_within_the_tools_own_bounds() {
    let project = two_migrations();
    let role = DropRoleLater(unique("cr_spill_role"));
    let name = &role.0;
    confiture_tests::admin()
        .batch_execute(&format!(
            "CREATE ROLE \"{name}\" LOGIN CREATEDB; \
             ALTER ROLE \"{name}\" SET temp_file_limit = 0; \
             ALTER ROLE \"{name}\" SET work_mem = '64kB'; \
             DO $$ BEGIN FOR i IN 1..100 LOOP EXECUTE pg_catalog.format(\
             'ALTER ROLE %I SET confiture_test.pad%s = %L', '{name}', i, repeat('x', 1000)); \
             END LOOP; END $$"
        ))
        .expect("create the role");
    for dry_run in [true, false] {
        let db = TestDb::unborn("cr_spill");
        up_creating_for_tenant(&project, name, &db, "tenant_a", dry_run).code(exit::SUCCESS);
        assert_eq!(db.exists(), !dry_run, "dry run {dry_run}");
    }
}
