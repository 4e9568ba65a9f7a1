//! What a bounded `up` or `down` could run, through the real binary: `--steps` is refused only
//! for what it reaches, as `--target` is (files with errors, a confiture (Python) migration),
//! a refusal names the bound that still works, and a database that does not exist is never
//! created by the help of a command that works on an existing one.

use confiture::exit;
use confiture_tests::{server, wait_until, Project, Run, TestDb};
use std::time::{Duration, Instant};

fn ledger(db: &TestDb) -> Vec<String> {
    db.ledger().expect("the ledger exists")
}

/// Writes environment `dev` (`db/environments/dev.yaml`), naming the database at `url`.
fn dev_environment(project: &Project, url: &str) {
    project.write("db/environments/dev.yaml", format!("database_url: {url}\n"));
}

/// A project of `001_a` and `002_b` (tables `a` and `b`), applied to `db` through environment
/// `dev`, which names it.
fn applied_through_dev(db: &TestDb) -> Project {
    let project = Project::new();
    project.table("001_a").table("002_b");
    dev_environment(&project, &db.url());
    project
        .run(&["migrate", "up", "--env", "dev"])
        .code(exit::SUCCESS);
    project
}

/// h18 F1: `up --steps 1` was refused for a lint error (C101) in 002, which it would never run,
/// while `--target 001` applied 001 (CHANGELOG: "`up` refuses only when a migration it could
/// run has errors"); `--create-database` and `--dry-run` alike. `--steps N` now reaches what
/// the ledger says its N migrations are, and is refused exactly when the `--target` of the
/// same migrations is — also for a draft (half a pair) beyond them, counted as the migration it
/// would be, never stepped over. `down` only checks what it rolls back.
#[test]
fn steps_is_refused_only_for_the_files_it_would_run_as_target_is() {
    // The user's `--create-database` is kept (`plan::up_args`), `--dry-run` is not.
    // Before connecting (`--target`, a bare `up`), whether 002_idx is applied is unknown;
    // `--steps`, refused once the ledger is read, knows that nothing before it is left to
    // apply: `--target 001` would do nothing.
    let stop = |flags: &str| {
        format!(
            "help: fix the files listed (`cargo confiture lint` explains each rule), then run \
             again; `cargo confiture migrate up --target 001{flags} --database-url <URL>` stops \
             before 002_idx if it is not applied yet"
        )
    };
    let nothing_left = "help: fix the files listed (`cargo confiture lint` explains each rule), \
                        then run again; 002_idx is not applied here, and nothing before it is \
                        left to apply: its files are what to fix";
    let db = TestDb::unborn("bounds_steps");
    let project = Project::new();
    project.table("001_a");
    project.migration(
        "002_idx",
        "CREATE INDEX CONCURRENTLY a_id ON a (id);\n",
        "DROP INDEX a_id;\n",
    );
    project.table("003_c");
    project
        .run_on(&db, &["migrate", "up", "--create-database", "--steps", "1"])
        .code(exit::SUCCESS)
        .stdout_has("applied 1 migration");
    assert_eq!(ledger(&db), ["001:a"]);
    // Now one step reaches the broken one: refused as `--target 2` and a bare `up` are.
    for (args, flags) in [
        (&["migrate", "up", "--steps", "1"][..], ""),
        (&["migrate", "up", "--steps", "1", "--dry-run"], ""),
        (
            &["migrate", "up", "--steps", "1", "--create-database"],
            " --create-database",
        ),
        (&["migrate", "up", "--target", "2"], ""),
        (&["migrate", "up"], ""),
    ] {
        let help = match args.contains(&"--steps") {
            true => nothing_left.to_string(),
            false => confiture_tests::previewed(&stop(flags), args),
        };
        project
            .run_on(&db, args)
            .code(exit::INVALID)
            .stderr_has("error[C101]")
            .stderr_has(&help);
    }
    assert_eq!(ledger(&db), ["001:a"]);
    project
        .run_on(&db, &["migrate", "down", "--steps", "1"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), Vec::<String>::new());

    // A draft beyond the steps: half a pair.
    let db = TestDb::new("bounds_draft");
    let project = Project::new();
    project.table("001_a");
    project.table("002_b");
    project.write(
        "db/migrations/003_draft.up.sql",
        "CREATE TABLE d (id int);\n",
    );
    for args in [
        &["migrate", "up", "--steps", "2", "--dry-run"][..],
        &["migrate", "up", "--steps", "2"],
    ] {
        project.run_on(&db, args).code(exit::SUCCESS);
    }
    assert_eq!(ledger(&db), ["001:a", "002:b"]);
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::INVALID)
        .stderr_has("003_draft.up.sql")
        // The ledger is read: 002 is applied already, `--target 002` would do nothing.
        .stderr_has("003_draft is not applied here, and nothing before it is left to apply")
        .stderr_lacks("--target 002");
    assert_eq!(ledger(&db), ["001:a", "002:b"]);
}

/// h18 F11: a pending confiture (Python) migration after pending SQL ones refused `up` and
/// every `up --steps N`, even one that stops before it, and the help only said to run
/// confiture (Python) first. `--steps N` that stops before it runs; one that reaches it, and a
/// bare `up`, are refused with the `--target` (as the files spell it) that applies the SQL
/// migrations before it.
#[test]
fn a_pending_python_migration_stops_only_what_reaches_it_and_names_the_target_before_it() {
    let before = "`cargo confiture migrate up --target 0002 --database-url <URL>` applies the \
                  migrations before `0003_c.py` and stops there";
    let db = TestDb::new("bounds_python");
    let project = Project::new();
    project.table("0001_a");
    project.table("0002_b");
    project.write("db/migrations/0003_c.py", "# confiture (Python)\n");
    for args in [
        &["migrate", "up"][..],
        &["migrate", "up", "--steps", "3"],
        &["migrate", "up", "--steps", "3", "--dry-run"],
        &["migrate", "up", "--target", "3"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::INVALID)
            .stderr_has("`0003_c.py` is a confiture (Python) migration, pending")
            .stderr_has(&confiture_tests::previewed(before, args));
    }
    assert_eq!(db.ledger(), None, "nothing was written");
    project
        .run_on(&db, &["migrate", "up", "--steps", "2", "--dry-run"])
        .code(exit::SUCCESS)
        .stdout_has("0002_b");
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["0001:a", "0002:b"]);
    // Nothing before it is pending any more: no `--target` of ours to name; confiture
    // (Python)'s applies it and nothing after it (hpy A), as the one step asked.
    project
        .run_on(&db, &["migrate", "up", "--steps", "1"])
        .code(exit::INVALID)
        .stderr_has("`0003_c.py` is a confiture (Python) migration, pending")
        .stderr_has("`confiture migrate up --target 0003 --database-url <URL>`")
        .stderr_has("that is all this request applies")
        .stderr_lacks("cargo confiture migrate up --target");
    assert_eq!(ledger(&db), ["0001:a", "0002:b"]);
}

/// A dry run's refusal of a `down` that would roll back everything suggested the confirming
/// command with `--dry-run` (a preview's suggestions are previews) and said of it that "each
/// migration's down file runs, dropping every migration's objects": the words of the real
/// command. They now say that it shows the down files and runs nothing, and what the same
/// command without `--dry-run` drops; the real run's help keeps its words.
#[test]
fn a_dry_runs_suggested_rollback_is_described_as_a_preview() {
    let db = TestDb::new("bounds_preview");
    let project = Project::new();
    project.table("001_a");
    project.table("002_b");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let real = "each migration's down file runs, dropping every migration's objects";
    for args in [
        &["migrate", "down", "--steps", "5", "--dry-run"][..],
        &["migrate", "down", "--target", "0", "--dry-run"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::USAGE)
            .stderr_has("--yes --database-url <URL> --dry-run`")
            .stderr_has(&format!(
                "it shows each migration's down file and runs nothing (without --dry-run, {real})"
            ))
            .stderr_lacks(&format!("): {real}"))
            .stderr_lacks("to roll back");
    }
    project
        .run_on(&db, &["migrate", "down", "--steps", "5"])
        .code(exit::USAGE)
        .stderr_has(&format!("--steps 2 --database-url <URL>`): {real}"));
    assert_eq!(ledger(&db), ["001:a", "002:b"], "nothing was rolled back");
}

/// h18 F2: `down --steps 2` over an irreversible migration was refused (rightly) with only
/// "write a new migration": unlike a squashed history's refusal it did not name the rollback
/// that still works, the `--target` (or `--steps`) that stops above the irreversible one.
#[test]
fn an_irreversible_migrations_refusal_names_the_rollback_above_it() {
    let db = TestDb::new("bounds_irrev");
    let project = Project::new();
    project.table("001_a");
    project.table("002_b");
    project.migration(
        "003_dn",
        "CREATE TABLE dn (id int);\n",
        "-- confiture:irreversible\n",
    );
    project.table("004_d");
    project.table("005_e");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let above = "`cargo confiture migrate down --target 003 --database-url <URL>` (or `cargo \
                 confiture migrate down --steps 2 --database-url <URL>`) rolls back the 2 \
                 migrations applied after 003_dn, which stays applied";
    for args in [
        &["migrate", "down", "--steps", "3"][..],
        &["migrate", "down", "--steps", "4", "--dry-run"],
        &["migrate", "down", "--target", "1"],
    ] {
        project
            .run_on(&db, args)
            .code(exit::IRREVERSIBLE)
            .stderr_has("irreversible: 003_dn")
            .stderr_has(&confiture_tests::previewed(above, args).replace(
                "rolls back",
                if args.contains(&"--dry-run") {
                    "previews rolling back"
                } else {
                    "rolls back"
                },
            ));
    }
    let all = ["001:a", "002:b", "003:dn", "004:d", "005:e"];
    assert_eq!(ledger(&db), all);
    project
        .run_on(&db, &["migrate", "down", "--steps", "1"])
        .code(exit::SUCCESS);
    project
        .run_on(&db, &["migrate", "down", "--steps", "2"])
        .code(exit::IRREVERSIBLE)
        .stderr_has(
            "`cargo confiture migrate down --target 003 --database-url <URL>` (or `cargo \
             confiture migrate down --steps 1 --database-url <URL>`) rolls back the migration \
             applied after 003_dn, which stays applied",
        );
    project
        .run_on(&db, &["migrate", "down", "--target", "003"])
        .code(exit::SUCCESS);
    assert_eq!(ledger(&db), ["001:a", "002:b", "003:dn"]);
    // Nothing above it: no rollback to name.
    project
        .run_on(&db, &["migrate", "down"])
        .code(exit::IRREVERSIBLE)
        .stderr_lacks("rolls back the");
    assert_eq!(ledger(&db), ["001:a", "002:b", "003:dn"]);
}

/// hsq 3: `down --steps N` with N beyond the applied migrations asked for `--yes` (exit 64) and
/// suggested `--target 0 --yes`, though an irreversible migration stops every rollback that
/// reaches it; with `--yes` it was then refused (exit 8). A step count that crosses an
/// irreversible migration is refused for it, as `--target` crossing it is, `--yes` or not,
/// naming it and the rollback above it; nothing is rolled back.
#[test]
fn steps_beyond_the_applied_migrations_stop_at_an_irreversible_one() {
    let db = TestDb::new("bounds_irrev_beyond");
    let project = Project::new();
    project.table("001_a");
    project.migration(
        "002_dn",
        "CREATE TABLE dn (id int);\n",
        "-- confiture:irreversible\n",
    );
    project.table("003_c");
    project.run_on(&db, &["migrate", "up"]).code(exit::SUCCESS);
    let all = ["001:a", "002:dn", "003:c"];
    let target = project.run_on(&db, &["migrate", "down", "--target", "0", "--yes"]);
    target.code(exit::IRREVERSIBLE);
    // r3d 1: what can never succeed is refused for that (exit 8), not for a missing `--yes`.
    for args in [
        &["migrate", "down", "--steps", "4"][..],
        &["migrate", "down", "--target", "0"],
        &["migrate", "down", "--target", "0", "--dry-run"],
        &["migrate", "down", "--steps", "20", "--dry-run"],
        &["migrate", "down", "--steps", "20", "--yes"],
    ] {
        let run = project.run_on(&db, args);
        run.code(exit::IRREVERSIBLE)
            .stderr_has("irreversible: 002_dn")
            .stderr_has("cargo confiture migrate down --target 002")
            .stderr_lacks("--target 0 --yes")
            .stderr_lacks("more than the");
        assert_eq!(ledger(&db), all, "nothing was rolled back: {}", run.dump());
    }
}

/// h18 F6: `down`, `baseline`, `reinit` and `drift` on a database that does not exist said to
/// create it with `migrate up --create-database`, which makes a new empty database and runs
/// every migration in it (for `baseline`, the opposite of its purpose): a mistyped name then
/// "succeeds" on the wrong database. They name the database and where its name came from, to
/// be checked there; only `up` (and `status`, read before a first `up`) suggests creating it.
#[test]
fn a_missing_database_is_created_only_by_ups_help() {
    let db = TestDb::unborn("bounds_missing");
    let project = Project::new();
    project.table("001_a");
    let s = server();
    for (args, command) in [
        (&["migrate", "down"][..], "down"),
        (&["migrate", "down", "--dry-run"], "down"),
        (&["migrate", "baseline", "--through", "1"], "baseline"),
        (&["migrate", "reinit"], "reinit"),
        (&["migrate", "drift"], "drift"),
    ] {
        project
            .run_on(&db, args)
            .code(exit::CONNECTION)
            .stderr_has(&format!(
                "help: the database \"{name}\" ({user}@{host}:{port}/{name}, from \
                 --database-url) does not exist on its server: check the database name there \
                 (`psql -h {host} -p {port} -U {user} -l` lists the server's databases); \
                 `{command}` works on a database that exists and does not create one",
                name = db.name,
                user = s.user,
                host = s.host,
                port = s.port,
            ))
            .stderr_lacks("--create-database")
            .stderr_lacks("createdb");
    }
    for args in [&["migrate", "up"][..], &["migrate", "status"]] {
        project
            .run_on(&db, args)
            .code(exit::CONNECTION)
            .stderr_has("`cargo confiture migrate up --create-database --database-url <URL>`");
    }
    assert!(!db.exists(), "nothing was created");
}

/// The `up` a refusal suggests to run instead — the one that stops before a broken file (half
/// a pair), or before a pending confiture (Python) migration — is the user's own command bounded
/// there: it keeps how the database was chosen (`--env`, `--database-url`) and every flag given
/// (`--single-transaction`, `--allow-*`, `--create-database`; `--dry-run` too, after the
/// selection, as every suggestion of a preview has it), in the one spelling of "the same `up`"
/// (`plan::up_args`). The files' refusal dropped them all: pasted, the
/// suggestion ran without the user's transaction mode or permissions.
#[test]
fn the_up_a_refusal_suggests_keeps_the_users_selection_and_flags() {
    let db = TestDb::new("bounds_flags");
    let url = db.url();
    let broken = Project::new();
    broken.table("001_a");
    broken.write("db/migrations/002_b.up.sql", "CREATE TABLE b (id int);\n");
    broken.table("003_c");
    let python = Project::new();
    python.table("0001_a");
    python.table("0002_b");
    python.write("db/migrations/0003_c.py", "# confiture (Python)\n");
    for project in [&broken, &python] {
        dev_environment(project, &url);
    }
    // The flags given, and as the suggestion spells them (`up_args`' order).
    let flag_sets: [(&[&str], &str); 5] = [
        (&[], ""),
        (&["--single-transaction"], " --single-transaction"),
        (
            &["--allow-destructive", "--allow-out-of-order"],
            " --allow-out-of-order --allow-destructive",
        ),
        (
            &["--dry-run", "--allow-non-empty", "--allow-newer-database"],
            " --allow-newer-database --allow-non-empty",
        ),
        (
            &["--create-database", "--single-transaction"],
            " --single-transaction --create-database",
        ),
    ];
    let selections: [(&[&str], &str); 2] = [
        (&["--env", "dev"], "--env dev"),
        (&["--database-url", &url], "--database-url <URL>"),
    ];
    for (project, stop, says, bounds) in [
        (
            &broken,
            "001",
            // `--steps` reads the ledger first: it knows 002_b is not applied here.
            [
                "stops before 002_b if it is not applied yet",
                "applies what comes before 002_b, which is not applied here",
                "stops before 002_b if it is not applied yet",
            ],
            [&["--target", "3"][..], &["--steps", "2"], &[]],
        ),
        (
            &python,
            "0002",
            ["applies the migrations before `0003_c.py` and stops there"; 3],
            [&["--target", "3"][..], &["--steps", "3"], &[]],
        ),
    ] {
        for (bound, says) in bounds.into_iter().zip(says) {
            for (flags, spelled) in flag_sets {
                for (selection, shown) in selections {
                    let args: Vec<&str> = ["migrate", "up"]
                        .iter()
                        .chain(bound)
                        .chain(flags)
                        .chain(selection)
                        .copied()
                        .collect();
                    let suggested = format!(
                        "`cargo confiture migrate up --target {stop}{spelled} {shown}` {says}"
                    );
                    project
                        .run(&args)
                        .code(exit::INVALID)
                        .stderr_has(&confiture_tests::previewed(&suggested, &args));
                }
            }
        }
    }
    assert_eq!(db.ledger(), None, "nothing was written");
}

/// Every help that prints a command line to run instead keeps how the user chose the database
/// (`--env dev`) and the flags they gave that still apply, whatever the refusal or failure:
/// the missing database's `--create-database` (bounded or not: it was written without the
/// request), a no-transaction migration's "then `migrate up` again" (written by the engine),
/// the out-of-order and non-empty refusals, the files' stop, and `down`'s confirmation of
/// everything (`--allow-modified`, through `plan::down_args`). Each suggestion, pasted, would
/// run as the user asked; the missing database's and `down`'s dropped the flags.
#[test]
fn every_suggested_command_keeps_the_selection_and_the_flags_given() {
    struct Case {
        what: &'static str,
        /// The migrations: (id, up, down); a down of `None` writes none (half a pair).
        files: &'static [(&'static str, &'static str, Option<&'static str>)],
        /// SQL run on the database first (`None`: the database does not exist).
        setup: Option<&'static str>,
        args: &'static [&'static str],
        code: u8,
        suggested: &'static str,
    }
    const A: (&str, &str, Option<&str>) = (
        "001_a",
        "CREATE TABLE a (id int);\n",
        Some("DROP TABLE a;\n"),
    );
    const B: (&str, &str, Option<&str>) = (
        "002_b",
        "CREATE TABLE b (id int);\n",
        Some("DROP TABLE b;\n"),
    );
    let cases = [
        Case {
            what: "missing database",
            files: &[A, B],
            setup: None,
            args: &[
                "migrate",
                "up",
                "--single-transaction",
                "--allow-destructive",
            ],
            code: exit::CONNECTION,
            suggested: "`cargo confiture migrate up --allow-destructive --single-transaction \
                        --create-database --env dev`",
        },
        Case {
            what: "missing database, bounded",
            files: &[A, B],
            setup: None,
            args: &["migrate", "up", "--target", "1", "--allow-out-of-order"],
            code: exit::CONNECTION,
            suggested: "`cargo confiture migrate up --target 001 --allow-out-of-order \
                        --create-database --env dev`",
        },
        Case {
            what: "no-transaction migration failed midway",
            files: &[
                A,
                (
                    "002_nt",
                    "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY a_i ON a (id);\nSELECT 1/0;\n",
                    Some("DROP INDEX a_i;\n"),
                ),
            ],
            setup: Some(""),
            args: &[
                "migrate",
                "up",
                "--allow-destructive",
                "--allow-newer-database",
            ],
            code: exit::MIGRATION_FAILED,
            suggested: "`cargo confiture migrate up --allow-destructive --allow-newer-database \
                        --rerun-interrupted --env dev`",
        },
        Case {
            what: "out of order",
            files: &[A, B],
            setup: Some(
                "CREATE TABLE b (id int); \
                 CREATE TABLE tb_confiture (pk_confiture bigserial PRIMARY KEY, slug text, \
                 version text NOT NULL UNIQUE, name text, applied_at timestamptz DEFAULT now(), \
                 execution_time_ms int, checksum text, applied_by text); \
                 INSERT INTO tb_confiture (slug, version, name, checksum) \
                 VALUES ('b_002', '002', 'b', 'x')",
            ),
            args: &["migrate", "up", "--single-transaction"],
            code: exit::DIVERGED,
            suggested: "`cargo confiture migrate up --single-transaction --allow-out-of-order \
                        --env dev`",
        },
        Case {
            what: "not empty",
            files: &[A, B],
            setup: Some("CREATE TABLE a (id int)"),
            args: &["migrate", "up", "--allow-destructive"],
            code: exit::DIVERGED,
            suggested: "`cargo confiture migrate up --allow-destructive --allow-non-empty \
                        --env dev`",
        },
        Case {
            what: "broken file",
            files: &[A, ("002_b", "CREATE TABLE b (id int);\n", None)],
            setup: Some(""),
            args: &["migrate", "up", "--single-transaction", "--allow-non-empty"],
            code: exit::INVALID,
            suggested: "`cargo confiture migrate up --target 001 --allow-non-empty \
                        --single-transaction --env dev`",
        },
    ];
    for case in &cases {
        let db = match case.setup {
            Some(sql) => {
                let db = TestDb::new("bounds_kept");
                if !sql.is_empty() {
                    db.connect()
                        .batch_execute(sql)
                        .expect("set the database up");
                }
                db
            }
            None => TestDb::unborn("bounds_kept"),
        };
        let project = Project::new();
        for (id, up, down) in case.files {
            project.write(&format!("db/migrations/{id}.up.sql"), up);
            if let Some(down) = down {
                project.write(&format!("db/migrations/{id}.down.sql"), down);
            }
        }
        dev_environment(&project, &db.url());
        let args: Vec<&str> = case.args.iter().copied().chain(["--env", "dev"]).collect();
        let run = project.run(&args);
        run.code(case.code);
        assert!(
            run.stderr.contains(case.suggested),
            "{}: {:?} should suggest {}, said:\n{}",
            case.what,
            case.args,
            case.suggested,
            run.stderr
        );
    }

    // `down`: confirming everything keeps `--allow-modified`.
    let db = TestDb::new("bounds_kept_down");
    let project = applied_through_dev(&db);
    project
        .run(&[
            "migrate",
            "down",
            "--steps",
            "5",
            "--allow-modified",
            "--env",
            "dev",
        ])
        .code(exit::USAGE)
        .stderr_has(
            "`cargo confiture migrate down --target 0 --yes --allow-modified --env dev` (or \
             `cargo confiture migrate down --steps 2 --allow-modified --env dev`)",
        );
}

/// Every command a preview's messages suggest is a preview too: pasted from a `--dry-run`'s
/// help, it shows what it would do instead of doing it. A `down --steps 20 --dry-run` refused
/// for going past the applied migrations suggested `migrate down --target 0 --yes`, which
/// rolled back every migration for real; a preview of `up` on a missing database suggested
/// `up --create-database`, which created and migrated it; a preview stopped by a broken file
/// suggested the real `up --target`.
#[test]
fn every_command_a_preview_suggests_is_a_preview() {
    let db = TestDb::new("bounds_preview");
    let project = applied_through_dev(&db);
    let unborn = TestDb::unborn("bounds_preview_missing");
    project.write(
        "db/environments/missing.yaml",
        format!("database_url: {}\n", unborn.url()),
    );
    let written = || db.ledger();
    let before = written();
    let previews: [(&[&str], u8); 2] = [
        (
            &["migrate", "down", "--steps", "20", "--env", "dev"],
            exit::USAGE,
        ),
        (&["migrate", "up", "--env", "missing"], exit::CONNECTION),
    ];
    for (args, code) in previews {
        let args: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
        let run = project.run(&args);
        run.code(code);
        let suggested = suggested_writing_commands(&run.stderr);
        assert!(
            !suggested.is_empty(),
            "{args:?} should suggest a command, said:\n{}",
            run.stderr
        );
        for command in suggested {
            assert!(
                command.split(' ').any(|word| word == "--dry-run"),
                "{args:?} suggested {command}, which is not a preview:\n{}",
                run.stderr
            );
        }
    }
    // A broken later file stops a preview of `up` before it: its bounded `up` is a preview.
    project.write("db/migrations/003_c.up.sql", "CREATE TABLE c (id int);\n");
    let run = project.run(&["migrate", "up", "--dry-run", "--env", "dev"]);
    run.code(exit::INVALID);
    for command in suggested_writing_commands(&run.stderr) {
        assert!(command.contains("--dry-run"), "{command}:\n{}", run.stderr);
    }
    assert_eq!(written(), before, "no preview wrote anything");
    assert!(!unborn.exists(), "no preview created the database");
}

/// The commands in backquotes in `text` that write: `migrate up|down|baseline|reinit`.
fn suggested_writing_commands(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|command| {
            ["up", "down", "baseline", "reinit"]
                .iter()
                .any(|sub| command.starts_with(&format!("cargo confiture migrate {sub}")))
        })
        .collect()
}

/// `up --create-database` with files that have errors is refused before anything is created,
/// and its help hedged: "`... --target 001 --create-database ...` stops before 002_b if it is
/// not applied yet" — on a database that does not exist, where nothing is applied (hsm). When
/// the server says (on a session that writes nothing) that the database does not exist, the
/// help says what holds there, a dry run's too; a database that exists keeps the condition,
/// and nothing is created either way.
#[test]
fn a_missing_databases_refusal_of_broken_files_says_nothing_is_applied_there() {
    let missing = TestDb::unborn("bounds_broken_missing");
    let existing = TestDb::new("bounds_broken_existing");
    let project = Project::new();
    project.table("001_a");
    project.write("db/migrations/002_b.up.sql", "CREATE TABLE b (id int);\n");
    project.table("003_c");
    for dry_run in [&[][..], &["--dry-run"]] {
        let args: Vec<&str> = ["migrate", "up", "--create-database"]
            .iter()
            .chain(dry_run)
            .copied()
            .collect();
        let suggested = format!(
            "`cargo confiture migrate up --target 001 --create-database --database-url \
             <URL>{}`",
            dry_run.iter().map(|f| format!(" {f}")).collect::<String>()
        );
        project
            .run_on(&missing, &args)
            .code(exit::INVALID)
            .stderr_has(&format!(
                "{suggested} applies what comes before 002_b, which is not applied here"
            ))
            .stderr_lacks("if it is not applied yet");
        project
            .run_on(&existing, &args)
            .code(exit::INVALID)
            .stderr_has(&format!(
                "{suggested} stops before 002_b if it is not applied yet"
            ));
    }
    assert!(!missing.exists(), "nothing was created");
    assert_eq!(existing.ledger(), None, "nothing was written");
}

/// hmig #3: a misnamed draft above `--target` (`03_draft.up.sql`, C006, its version 3 read
/// from its name) stopped `up --target 2` ("nothing was run"), while the same draft well named
/// (`003_draft.up.sql`, C001) let it apply 001 and 002. A file whose version can be read is
/// one draft of that version either way: above the target it does not stop the run, and a
/// bare `up`'s refusal offers the `--target` that stops before it.
#[test]
fn a_misnamed_draft_above_the_target_stops_only_what_reaches_it() {
    for draft in ["03_draft.up.sql", "003_draft.up.sql"] {
        let db = TestDb::unborn("bounds_misnamed");
        let project = Project::new();
        project.table("001_r").table("002_s");
        project.write(
            &format!("db/migrations/{draft}"),
            "CREATE TABLE draft (id int);\n",
        );
        project
            .run_on(&db, &["migrate", "up", "--create-database"])
            .code(exit::INVALID)
            .stderr_has("nothing was run")
            .stderr_has(
                "`cargo confiture migrate up --target 002 --create-database --database-url \
                 <URL>` applies what comes before 003_draft, which is not applied here",
            );
        project
            .run_on(
                &db,
                &["migrate", "up", "--create-database", "--target", "2"],
            )
            .code(exit::SUCCESS)
            .stdout_has("applied 2 migrations");
        assert_eq!(ledger(&db), ["001:r", "002:s"], "{draft}");
    }
}

/// hmig #1: a dbmate file renamed `.up.sql` (as C006 said, before) passed lint, and `migrate
/// up` ran its down section right after its up part: "applied 001_create_a", the table gone.
/// Lint now refuses it (C125, at the marker) and `up` runs nothing; goose's and sql-migrate's
/// markers alike; the misnamed file's C006 says where to split it.
#[test]
fn another_tools_down_section_in_an_up_file_stops_lint_and_up() {
    let dbmate = "-- migrate:up\nCREATE TABLE a(id int);\n\n-- migrate:down\nDROP TABLE a;\n";
    let goose = "-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE a(id int);\n\
                 -- +goose StatementEnd\n\n-- +goose Down\nDROP TABLE a;\n";
    let sql_migrate =
        "-- +migrate Up\nCREATE TABLE a(id int);\n\n-- +migrate Down\nDROP TABLE a;\n";
    for (text, line) in [(dbmate, 4), (goose, 6), (sql_migrate, 4)] {
        let project = Project::new();
        project.write("db/migrations/001_create_a.sql", text);
        project
            .run(&["lint"])
            .code(exit::INVALID)
            .stderr_has("error[C006]")
            .stderr_has("single-file format, both directions in one file: split it, moving lines")
            .stderr_has("into `001_create_a.down.sql` and renaming it to `001_create_a.up.sql`");
        project.remove("db/migrations/001_create_a.sql");
        project.migration("001_create_a", text, "DROP TABLE a;\n");
        project
            .run(&["lint"])
            .code(exit::INVALID)
            .stderr_has("error[C125]")
            .stderr_has(&format!("db/migrations/001_create_a.up.sql:{line}:1"))
            .stderr_has("into `001_create_a.down.sql`");
        let db = TestDb::unborn("bounds_peer_sections");
        project
            .run_on(&db, &["migrate", "up", "--create-database"])
            .code(exit::INVALID)
            .stderr_has("error[C125]")
            .stderr_has("nothing was run");
        assert!(!db.exists(), "nothing was run, nor the database created");
    }
}

/// `migration.connect_timeout` of an environment file bounds each connection attempt as the
/// URL's parameter does: a server that accepts and never answers ends the command after the
/// file's 2 s, never the default 10 s, exit 3, the error naming the time and the help the
/// environment file's key to raise. hsm3 #5: and within about those 2 s in all — the
/// explanation's probe of the port waited another `connect_timeout` (~4 s in all); TLS
/// asked (`sslmode` unset: `prefer`) or not.
#[test]
fn an_environment_files_connect_timeout_bounds_a_silent_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("its address").port();
    // Accept and hold connections without ever reading or writing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let project = Project::new();
    project.table("001_a");
    for (command, sslmode) in [
        (&["migrate", "status"][..], "?sslmode=disable"),
        (&["migrate", "up"][..], "?sslmode=disable"),
        (&["migrate", "status"][..], ""),
    ] {
        project.write(
            "db/environments/silent.yaml",
            format!(
                "database_url: postgresql://postgres@127.0.0.1:{port}/app{sslmode}\n\
                 migration:\n  connect_timeout: 2s\n"
            ),
        );
        let run = project.run(&[command, &["--env", "silent"][..]].concat());
        run.code(exit::CONNECTION)
            .stderr_has("no answer within 2s")
            .stderr_has("raise migration.connect_timeout")
            .stderr_has("in environment file db/environments/silent.yaml");
        // The connection's 2 s, then the explanation's short probe of the port
        // (`connect::explain::timed_out`'s `ANSWER_WAIT`).
        assert!(
            run.elapsed >= std::time::Duration::from_millis(1800)
                && run.elapsed < std::time::Duration::from_millis(3500),
            "{}",
            run.dump()
        );
    }
}

/// The catalogs (and views of the server's state) that `status`, `up` and `baseline` read
/// before the migration lock when the database has no ledger: the ledger read's look-ups
/// (`pg_namespace`, `pg_type`, `pg_proc`), where a ledger may hide (`hidden_ledger`,
/// `ledgers_with_rows`), what the database holds (`unrecorded`: `pg_depend`, `pg_inherits`),
/// the session's settings (`pg_settings`) and who holds the migration lock (`pg_locks`).
/// Not here: `pg_class` and `pg_attribute`, which hold the session's start (the connection's
/// own bound and explanation), and the shared catalogs (`pg_database`, `pg_authid`,
/// `pg_db_role_setting`), whose lock would hold every other test's connections.
const CATALOGS_READ_BEFORE_THE_LOCK: [&str; 7] = [
    "pg_namespace",
    "pg_type",
    "pg_proc",
    "pg_depend",
    "pg_inherits",
    "pg_settings",
    "pg_locks",
];

/// A session of `db` holding `relation` in `ACCESS EXCLUSIVE` mode in a transaction left open
/// (`ROLLBACK` lets it go), and its pid.
fn locked(db: &TestDb, relation: &str) -> (postgres::Client, i32) {
    db.holding_lock("lock_holder", relation)
}

/// The CLI with `args` on `db`, given `within` to end: a run still going then is killed and
/// the test fails, naming what it said — never a suite held by a hang.
fn run_within(project: &Project, db: &TestDb, args: &[&str], within: Duration) -> Run {
    let started = Instant::now();
    let mut child = project.spawn_on(db, args);
    let ended = wait_until(within, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let run = Run::from_output(child.wait_with_output().unwrap(), started.elapsed());
    assert!(
        ended,
        "`{}` on {} was still waiting after {within:?}\n{}",
        args.join(" "),
        db.name,
        run.dump()
    );
    run
}

/// hbd3 1: a database without a ledger whose `search_path` names no existing schema, and
/// another session's `LOCK pg_catalog.pg_depend` (or any catalog the reads after a missing
/// ledger look up): `migrate status` waited in the read of where a ledger may hide as long as
/// the lock lasted — forever for a session left idle in its transaction —, and so did `up`'s
/// and `baseline`'s look at what the database holds. Each read of the tool's own there now
/// waits the command's `--lock-wait` at most, then exits 6 naming the catalog's holder; a
/// command that reads no locked catalog ends as it ends without the lock.
#[test]
fn a_lock_on_a_catalog_read_without_a_ledger_ends_each_command_within_its_lock_wait() {
    let project = Project::new();
    project.table("001_a");
    // No schema on the search_path (where a ledger may hide), and one with an object and no
    // ledger (what the database holds, `baseline`'s way).
    let nowhere = TestDb::new("hbd3_nowhere");
    nowhere.set_for_new_sessions("search_path", "nosuch");
    let holding = TestDb::new("hbd3_holding");
    for db in [&nowhere, &holding] {
        db.connect()
            .batch_execute("CREATE TABLE public.obj (id int)")
            .unwrap();
    }
    let commands: [&[&str]; 3] = [
        &["migrate", "status"],
        &["migrate", "up"],
        &["migrate", "baseline", "--through", "001", "--dry-run"],
    ];
    let lock_wait = ["--lock-wait", "1s"];
    let within = Duration::from_secs(20);
    for db in [&nowhere, &holding] {
        for command in commands {
            let args = [command, &lock_wait[..]].concat();
            let unlocked = run_within(&project, db, &args, within).code;
            let mut named = 0;
            for catalog in CATALOGS_READ_BEFORE_THE_LOCK {
                let (mut holder, pid) = locked(db, &format!("pg_catalog.{catalog}"));
                let run = run_within(&project, db, &args, within);
                holder.batch_execute("ROLLBACK").unwrap();
                let what = format!("`{}` behind {catalog} on {}", args.join(" "), db.name);
                if run.code == i32::from(exit::LOCK_TIMEOUT) {
                    assert!(
                        run.stderr
                            .contains(&format!("lock on {catalog} held by pid {pid}")),
                        "{what} did not name the catalog's holder\n{}",
                        run.dump()
                    );
                    named += 1;
                } else {
                    assert_eq!(run.code, unlocked, "{what}\n{}", run.dump());
                }
            }
            assert!(named > 0, "{} met no lock", args.join(" "));
        }
    }
}

/// hbd3 2: on a database holding objects but no ledger, `status` and `up` read the start
/// markers a run may have left beside the missing ledger, waiting for another session's lock on
/// their table the 30 s of the library's default, whatever `--lock-wait` said. They now wait
/// the command's lock wait, then exit 6 naming the holder.
#[test]
fn the_start_markers_beside_a_missing_ledger_wait_the_commands_lock_wait() {
    let project = Project::new();
    project.table("001_a");
    let db = TestDb::new("hbd3_markers");
    db.connect()
        .batch_execute(
            "CREATE TABLE obj (id int); CREATE TABLE tb_confiture_started (version text)",
        )
        .unwrap();
    for command in [&["migrate", "status"][..], &["migrate", "up"][..]] {
        let (mut holder, pid) = locked(&db, "tb_confiture_started");
        let args = [command, &["--lock-wait", "1s"][..]].concat();
        let run = run_within(&project, &db, &args, Duration::from_secs(15));
        holder.batch_execute("ROLLBACK").unwrap();
        run.code(exit::LOCK_TIMEOUT)
            .stderr_has("tb_confiture_started")
            .stderr_has(&format!("held by pid {pid}"));
        assert!(
            run.elapsed < Duration::from_secs(10),
            "{} waited past its lock wait\n{}",
            args.join(" "),
            run.dump()
        );
    }
}

/// hbd3 3: the tool's own reads after a missing ledger — where it resolves, where it would be
/// created and why it cannot be, where a ledger may hide, what the database holds, the start
/// markers, the session's settings, who holds the migration lock — keep their own `work_mem`
/// whatever the database's: under `work_mem = '64kB'` and `temp_file_limit = 0` (a view of the
/// server's state spills past 64 kB, and no temporary file is allowed) each command ends as it
/// ends on the same database without them, never refused for a temporary file of ours.
#[test]
fn the_reads_after_a_missing_ledger_keep_their_own_memory() {
    let project = Project::new();
    project.table("001_a");
    let commands: [&[&str]; 3] = [
        &["migrate", "status"],
        &["migrate", "up", "--dry-run"],
        &["migrate", "baseline", "--through", "001", "--dry-run"],
    ];
    for search_path in ["nosuch", "public"] {
        let [plain, limited] = ["hbd3_plain", "hbd3_limited"].map(|prefix| {
            let db = TestDb::new(prefix);
            db.set_for_new_sessions("search_path", search_path);
            db.connect()
                .batch_execute("CREATE TABLE public.obj (id int)")
                .unwrap();
            db
        });
        limited.set_for_new_sessions("work_mem", "64kB");
        limited.set_for_new_sessions("temp_file_limit", "0");
        for command in commands {
            let within = Duration::from_secs(20);
            let expected = run_within(&project, &plain, command, within);
            let run = run_within(&project, &limited, command, within);
            assert_eq!(
                run.code,
                expected.code,
                "`{}` with search_path {search_path}\n{}\n--- without the limits\n{}",
                command.join(" "),
                run.dump(),
                expected.dump()
            );
            run.stderr_lacks("temp_file_limit")
                .stderr_lacks("temporary file");
        }
    }
}
