//! Usage errors as a user and a script meet them: with `--format json` every failure, clap's
//! argument errors included, is one JSON document on stdout (exit 64 kept); and a request that
//! makes no sense is refused before anything connects (no `using ...` line, no connection).

use confiture::exit;
use confiture_tests::{Project, Run, TestDb};

/// Asserts that stdout is exactly one JSON document reporting an error of `kind` with
/// `exit_code`: `{"error": {...}}`, or a command's report whose `errors` holds it (`up`, `down`).
#[track_caller]
fn json_error(run: &Run, code: u8, kind: &str) -> serde_json::Value {
    run.code(code);
    let doc = run.json();
    let error = if doc["error"].is_object() {
        &doc["error"]
    } else {
        &doc["errors"][0]
    };
    assert_eq!(error["kind"], kind, "{}", run.dump());
    assert_eq!(error["exit_code"], u64::from(code), "{}", run.dump());
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty(),
        "the error has no message\n{}",
        run.dump()
    );
    assert!(
        !message.starts_with("error:"),
        "the message repeats its label\n{}",
        run.dump()
    );
    doc
}

#[test]
fn every_argument_error_is_one_json_document_with_format_json() {
    let project = Project::two_tables();
    // (arguments, a word the message or help must contain)
    let cases: &[(&[&str], &str)] = &[
        (&["migrate", "up", "--steps", "-1"], "-1"),
        (&["migrate", "up", "--steps", "99999999999"], "99999999999"),
        (&["migrate", "down", "--steps", "x"], "x"),
        (
            &["migrate", "up", "--steps", "1", "--target", "4"],
            "--target",
        ),
        (
            &["migrate", "down", "--steps", "1", "--target", "4"],
            "--target",
        ),
        (&["migrate", "up", "--bogus"], "--bogus"),
        (&["migrate", "generate"], "NAME"),
        (&["migrate", "baseline"], "--through"),
        (&["migrate", "frobnicate"], "frobnicate"),
        (&["migrate"], "migrate"),
        (&["lint", "--env"], "--env"),
        (
            &["migrate", "status", "--env", "dev", "--database-url", "x"],
            "--database-url",
        ),
        (&["migrate", "status", "--color", "purple"], "purple"),
    ];
    for (args, word) in cases {
        // `--format json` before, after and glued (`--format=json`): wherever it appears.
        for placement in 0..3 {
            let mut argv: Vec<&str> = Vec::new();
            match placement {
                0 => argv.extend(["--format", "json"]),
                1 => argv.push("--format=json"),
                _ => {}
            }
            argv.extend(args.iter());
            if placement == 2 {
                argv.extend(["--format", "json"]);
            }
            let run = project.run(&argv);
            let doc = json_error(&run, exit::USAGE, "usage");
            let text = doc.to_string();
            assert!(text.contains(word), "{argv:?}: {word:?} not in {text}");
            // stderr still tells a person (clap's text: an error, or the help it needs).
            assert!(!run.stderr.trim().is_empty(), "{}", run.dump());
        }
    }
}

/// `--color` was read only once the arguments parsed: clap's own output — a usage error, the
/// help — ignored it, coloured on a terminal under `--color never` (here `CLICOLOR_FORCE`, which
/// clap's `auto` honours as a terminal) and plain under `--color always`.
#[test]
fn color_is_honoured_by_usage_errors_and_help_too() {
    let project = Project::two_tables();
    let run = |args: &[&str], force: bool| {
        let mut cli = project.cli();
        cli.args(args);
        if force {
            cli.env_remove("NO_COLOR").env("CLICOLOR_FORCE", "1");
        }
        Run::of(&mut cli)
    };
    for color in [&["--color", "never"][..], &["--color=never"]] {
        let never = |args: &[&'static str]| -> Vec<&str> { [args, color].concat() };
        run(&never(&["migrate", "statu"]), true)
            .code(exit::USAGE)
            .stderr_has("unrecognized subcommand")
            .stderr_lacks("\x1b[");
        run(&never(&["migrate", "up", "--steps", "x"]), true)
            .code(exit::USAGE)
            .stderr_lacks("\x1b[");
        run(&never(&["migrate", "up", "--help"]), true)
            .code(exit::SUCCESS)
            .stdout_has("Usage:")
            .stdout_lacks("\x1b[");
    }
    // `always` wins over NO_COLOR (which the harness sets), as for the command's own output.
    run(&["migrate", "statu", "--color", "always"], false)
        .code(exit::USAGE)
        .stderr_has("\x1b[");
    run(&["--color", "always", "migrate", "up", "--help"], false)
        .code(exit::SUCCESS)
        .stdout_has("\x1b[");
    // Left to `auto`, NO_COLOR and a pipe keep clap's output plain.
    run(&["migrate", "statu"], false)
        .code(exit::USAGE)
        .stderr_lacks("\x1b[");
}

#[test]
fn argument_errors_without_json_stay_text_and_exit_64() {
    let project = Project::two_tables();
    let run = project.run(&["migrate", "up", "--steps", "-1"]);
    run.code(exit::USAGE).stderr_has("error:");
    assert!(run.stdout.is_empty(), "{}", run.dump());
    // `--format xml` itself: there is no format to honour, so text.
    let run = project.run(&["migrate", "status", "--format", "xml"]);
    run.code(exit::USAGE).stderr_has("xml");
    // Help and version are not failures: text on stdout, exit 0, even with --format json.
    let run = project.run(&["--format", "json", "migrate", "up", "--help"]);
    run.code(exit::SUCCESS).stdout_has("Usage:");
    let run = project.run(&["--version"]);
    run.code(exit::SUCCESS).stdout_has("confiture");
}

#[test]
fn library_usage_errors_are_json_too() {
    let db = TestDb::new("usage_json");
    let project = Project::two_tables();
    for args in [
        &["migrate", "down", "--steps", "0"][..],
        &["migrate", "up", "--steps", "0"],
        &["migrate", "up", "--target", "abc"],
        // A sign is no part of a number of ours: `--steps +1` was taken, `--target +1`
        // refused.
        &["migrate", "up", "--steps", "+1"],
        &["migrate", "down", "--steps", "+1"],
        &["migrate", "up", "--target", "+1"],
        &["migrate", "status", "--targets", "t.txt", "--jobs", "+2"],
        &["migrate", "up", "--target", "42"],
        &["migrate", "up", "--lock-wait", "forever"],
    ] {
        let mut argv = args.to_vec();
        argv.extend(["--format", "json"]);
        let run = project.run_on(&db, &argv);
        json_error(&run, exit::USAGE, "usage");
    }
    // A bad environment name is invalid input (5), one document too.
    let run = project.run(&["migrate", "status", "--env", "nope", "--format", "json"]);
    json_error(&run, exit::INVALID, "invalid");
}

/// Usage errors are found before anything connects: no `using ...` line, and a database that
/// is not there is never tried (which would be exit 3, not 64).
#[test]
fn usage_errors_come_before_connecting() {
    let project = Project::two_tables();
    let dead = "postgresql://postgres@127.0.0.1:1/nothing_here";
    for args in [
        &["migrate", "down", "--steps", "0"][..],
        &["migrate", "down", "--target", "42"],
        &["migrate", "down", "--target", "0"],
        &["migrate", "up", "--steps", "0"],
        &["migrate", "up", "--target", "42"],
        &["migrate", "up", "--target", "abc"],
        // A sign is no part of a number of ours: `--steps +1` was taken, `--target +1`
        // refused.
        &["migrate", "up", "--steps", "+1"],
        &["migrate", "down", "--steps", "+1"],
        &["migrate", "up", "--target", "+1"],
        &["migrate", "status", "--targets", "t.txt", "--jobs", "+2"],
        &["migrate", "baseline", "--through", "42"],
        &["migrate", "reinit", "--through", "42"],
        &["migrate", "up", "--lock-wait", "soon"],
        &["migrate", "up", "--lock-timeout", "soon"],
        &["migrate", "reinit", "--through", "x"],
        &[
            "migrate",
            "baseline",
            "--through",
            "99999999999999999999999",
        ],
        &["migrate", "down", "--lock-timeout-statement", "-1s"],
        &["migrate", "down", "--statement-timeout", "1 parsec"],
    ] {
        let mut argv = args.to_vec();
        argv.extend(["--database-url", dead]);
        let run = project.run(&argv);
        run.code(exit::USAGE).stderr_lacks("using ");
        assert!(
            !run.stderr.contains("127.0.0.1:1"),
            "{argv:?} tried to connect\n{}",
            run.dump()
        );
    }
}

/// `--lock-wait` waits for the migration lock; `--lock-timeout`, its old name, is a hidden
/// alias (PostgreSQL's `lock_timeout` is `--lock-timeout-statement`). The default shown in
/// `--help` is the library's `migrate::DEFAULT_LOCK_WAIT`.
#[test]
fn lock_wait_is_the_flag_and_lock_timeout_a_hidden_alias() {
    let project = Project::two_tables();
    for command in ["up", "down", "baseline", "reinit"] {
        let run = project.run(&["migrate", command, "--help"]);
        let default = confiture::config::Timeout::new(confiture::migrate::DEFAULT_LOCK_WAIT)
            .unwrap()
            .to_string();
        run.code(exit::SUCCESS)
            .stdout_has("--lock-wait <DURATION>")
            .stdout_has(&format!("[default: {default}]"))
            .stdout_lacks("--lock-timeout <");
    }
    // Both spellings reach the same parser; a bad value names the flag as it was typed.
    for flag in ["--lock-wait", "--lock-timeout"] {
        let run = project.run(&["migrate", "up", flag, "soon"]);
        run.code(exit::USAGE).stderr_has(&format!(
            "invalid value 'soon' for '{flag} <DURATION>': is not a duration"
        ));
    }
}

/// A version flag above the largest version said "it is too large" (hc2): it names the
/// largest, for `--target` and `--through` alike, as a usage error before connecting.
#[test]
fn a_version_flag_too_large_names_the_largest_version() {
    let project = Project::two_tables();
    for (command, flag) in [("down", "--target"), ("baseline", "--through")] {
        let run = project.run(&["migrate", command, flag, "9223372036854775808"]);
        run.code(exit::USAGE)
            .stderr_has(&format!(
                "invalid value '9223372036854775808' for '{flag} <VERSION>': is not a migration \
                 version: it is above 9223372036854775807, the largest version a migration may have"
            ))
            .stderr_lacks("using ");
    }
}

/// A duration flag without a unit is a usage error naming the flag (hostile run 5, item 12):
/// `--lock-wait 30` waited 30 ms, not the 30 s a deploy script meant. `0` needs no unit.
#[test]
fn durations_without_a_unit_are_usage_errors() {
    let project = Project::two_tables();
    for (command, flag) in [
        ("up", "--lock-wait"),
        ("down", "--lock-timeout"),
        ("baseline", "--lock-wait"),
        ("up", "--lock-timeout-statement"),
        ("down", "--statement-timeout"),
        ("verify", "--statement-timeout"),
    ] {
        let mut argv = vec!["migrate", command, flag, "30"];
        if command == "baseline" {
            argv.extend(["--through", "1"]);
        }
        let run = project.run(&argv);
        run.code(exit::USAGE)
            .stderr_has(&format!(
                "invalid value '30' for '{flag} <DURATION>': has no unit"
            ))
            .stderr_has("durations need a unit: `30s` (or `30ms`")
            .stderr_lacks("using ");
    }
    // `0` is taken: the run goes on to connect (to nothing listening).
    let run = project.run(&[
        "migrate",
        "up",
        "--lock-wait",
        "0",
        "--statement-timeout",
        "0",
        "--database-url",
        "postgresql://postgres@127.0.0.1:1/nothing_listens",
    ]);
    run.code(exit::CONNECTION).stderr_lacks("no unit");
}

/// Every malformed duration or version flag is clap's usage error (exit 64), reported the
/// same way whichever flag it is, and as one JSON document with `--format json`.
#[test]
fn malformed_durations_and_versions_are_usage_errors() {
    let project = Project::two_tables();
    for (args, flag) in [
        (
            &["migrate", "up", "--lock-wait", "1.5s"][..],
            "--lock-wait <DURATION>",
        ),
        (
            &["migrate", "up", "--lock-timeout-statement", "5x"],
            "--lock-timeout-statement <DURATION>",
        ),
        (
            &["migrate", "down", "--statement-timeout", "597h"],
            "--statement-timeout <DURATION>",
        ),
        (&["migrate", "up", "--target", "v3"], "--target <VERSION>"),
        (&["migrate", "down", "--target=-1"], "--target <VERSION>"),
        (
            &["migrate", "baseline", "--through", ""],
            "--through <VERSION>",
        ),
        (
            &["migrate", "reinit", "--through", "3.0"],
            "--through <VERSION>",
        ),
    ] {
        let run = project.run(args);
        run.code(exit::USAGE).stderr_has(&format!("for '{flag}'"));
        let mut argv = args.to_vec();
        argv.extend(["--format", "json"]);
        let run = project.run(&argv);
        let doc = json_error(&run, exit::USAGE, "usage");
        assert!(
            doc["error"]["message"].as_str().unwrap().contains(flag),
            "{}",
            run.dump()
        );
    }
}

/// A connection string given where an argument goes (`migrate status postgresql://...`) got
/// clap's bare "unexpected argument": a tip now names the flag that takes it, and neither the
/// error nor the tip shows its password. A word that is no connection string gets no tip.
#[test]
fn a_connection_string_as_an_argument_is_told_to_use_database_url() {
    let project = Project::new();
    let tip = "tip: to name the database, use --database-url <URL>";
    for url in [
        "postgresql://postgres:s3cretpw@127.0.0.1:5432/nu_proj",
        "postgres://u:s3cretpw@h/db",
        "host=h password=s3cretpw dbname=db",
    ] {
        let run = project.run(&["migrate", "status", url]);
        run.code(exit::USAGE)
            .stderr_has("unexpected argument")
            .stderr_has(tip)
            .stderr_lacks("s3cretpw");
    }
    project
        .run(&["migrate", "status", "nothing"])
        .code(exit::USAGE)
        .stderr_lacks(tip);
}

/// N10: `--target 042` was echoed as `42` ("--target 42: no migration with version 42"), in
/// the text and in the JSON error's message: the version travelled as a parsed number. Every
/// bound (`up`/`down --target`, `baseline`/`reinit --through`) is echoed as it was written.
#[test]
fn a_version_bound_is_echoed_as_it_was_written_in_text_and_json() {
    let db = TestDb::new("usage_bound_spelling");
    let project = Project::two_tables();
    let cases: &[(&[&str], &str)] = &[
        (
            &["migrate", "up", "--target", "042"],
            "--target 042: no migration with version 042 in",
        ),
        (
            &["migrate", "up", "--target", "0000"],
            "--target 0000: no migration with version 0000 in",
        ),
        (
            &["migrate", "down", "--target", "042"],
            "--target 042: no migration with version 042 in",
        ),
        (
            &["migrate", "down", "--target", "000"],
            "--target 000 rolls back every applied migration",
        ),
        (
            &["migrate", "baseline", "--through", "0005"],
            "--through 0005: no migration with version 0005 in",
        ),
        (
            &["migrate", "reinit", "--through", "042"],
            "--through 042: no migration with version 042 in",
        ),
    ];
    for (args, expected) in cases {
        let run = project.run_on(&db, args);
        run.code(exit::USAGE)
            .stderr_has(&format!("error: {expected}"));
        let json = [*args, &["--format", "json"]].concat();
        let run = project.run_on(&db, &json);
        let doc = json_error(&run, exit::USAGE, "usage");
        let error = if doc["error"].is_object() {
            &doc["error"]
        } else {
            &doc["errors"][0]
        };
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(expected), "{args:?}: {}", run.dump());
    }
}

/// `lint --help` and `migrate generate --help` showed `--env`, `-c`, `--database-url` and
/// `--schema` under "Database and output (every command)", though neither connects: they are
/// left out of the help of every command that never connects, shown by every other one under a
/// heading that names the exceptions. Given anyway (before or after the command), they are
/// still accepted, as they were, with a warning that they are ignored (`-c` names the project
/// that holds the file, and `lint`'s `--env` and `-c` the tracking table: read, so not said to
/// be ignored).
#[test]
fn commands_that_never_connect_do_not_offer_the_connection_flags() {
    let project = Project::two_tables();
    let connection_flags = [
        "--env <NAME>",
        "--config <FILE>",
        "--database-url <URL>",
        "--schema <NAME>",
    ];
    let never_connect: [&[&str]; 2] = [&["lint"], &["migrate", "generate"]];
    let connect: [&[&str]; 7] = [
        &["migrate", "up"],
        &["migrate", "down"],
        &["migrate", "status"],
        &["migrate", "baseline"],
        &["migrate", "reinit"],
        &["migrate", "verify"],
        &["migrate", "drift"],
    ];
    for words in never_connect {
        let run = project.run(&[words, &["--help"]].concat());
        run.code(exit::SUCCESS)
            .stdout_has("Project and output (every command)");
        for flag in connection_flags {
            run.stdout_lacks(flag);
        }
        run.stdout_lacks("Database");
    }
    for words in connect {
        let run = project.run(&[words, &["--help"]].concat());
        run.code(exit::SUCCESS)
            .stdout_has("Database (every command but `lint` and `migrate generate`)");
        for flag in connection_flags {
            run.stdout_has(flag);
        }
    }

    // Still accepted, said to be ignored, the command's result unchanged (`lint`'s `--env`
    // aside: it names the tracking table C108 looks for, `cli_engine.rs`).
    let run = project.run(&[
        "lint",
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none",
        "--schema",
        "s",
    ]);
    run.code(exit::SUCCESS)
        .stdout_has("no problems")
        .stderr_has(
            "warning: `--database-url` is ignored: `cargo confiture lint` never connects to a \
             database",
        )
        .stderr_has("warning: `--schema` is ignored");
    let run = project.run(&[
        "migrate",
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none",
        "generate",
        "add_c",
        "--dry-run",
    ]);
    run.code(exit::SUCCESS)
        .stdout_has("003_add_c.up.sql")
        .stderr_has(
            "warning: `--database-url` is ignored: `cargo confiture migrate generate` never \
             connects to a database",
        );
    let run = project.run(&["lint"]);
    run.code(exit::SUCCESS).stderr_lacks("warning:");
    // A command that connects says nothing of the kind.
    let run = project.run(&[
        "migrate",
        "status",
        "--database-url",
        "postgresql://nobody@127.0.0.1:1/none",
    ]);
    run.stderr_lacks("is ignored");
}

/// `cargo confiture help` (as cargo and git take it) was an "unrecognized subcommand" with no
/// tip: the tip is the `--help` of what follows, and pasted it prints that help.
#[test]
fn help_as_a_subcommand_points_at_the_help_flag() {
    let project = Project::new();
    let cases: &[(&[&str], &str)] = &[
        (&["help"], "`cargo confiture --help`"),
        (&["help", "migrate"], "`cargo confiture migrate --help`"),
        (
            &["migrate", "help", "up"],
            "`cargo confiture migrate up --help`",
        ),
    ];
    for (args, suggested) in cases {
        project
            .run(args)
            .code(exit::USAGE)
            .stderr_has(&format!("tip: did you mean {suggested}?"));
        project
            .paste(suggested)
            .code(exit::SUCCESS)
            .stdout_has("Usage: cargo confiture");
    }
}

/// A subcommand given where it is not one (`cargo confiture up`, as other migration tools
/// spell it; `migrate lint`) got clap's bare "unrecognized subcommand" with no tip: the tip
/// names the command line with the subcommand where it is, the other words kept (a
/// connection string as `<URL>`), and pasted it runs. `init`, which confiture (Python) and
/// other tools have, says how a project starts here. In JSON, the tip is the help.
#[test]
fn a_subcommand_given_at_another_level_is_suggested_where_it_is() {
    let db = TestDb::new("usage_level");
    let project = Project::two_tables();
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {}\n", db.url()),
    );
    let cases: &[(&[&str], &str)] = &[
        (&["up"], "`cargo confiture migrate up`"),
        (
            &["status", "--env", "local"],
            "`cargo confiture migrate status --env local`",
        ),
        (&["stauts"], "`cargo confiture migrate status`"),
        (
            &["down", "--dry-run"],
            "`cargo confiture migrate down --dry-run`",
        ),
        (
            &["migrate", "lint", "-D", "warnings"],
            "`cargo confiture lint -D warnings`",
        ),
        (
            &["migrate", "migrate", "status"],
            "`cargo confiture migrate status`",
        ),
        (
            &["generate", "add_bio", "--dry-run"],
            "`cargo confiture migrate generate add_bio --dry-run`",
        ),
    ];
    for (args, suggested) in cases {
        let run = project.run(args);
        run.code(exit::USAGE)
            .stderr_has(&format!("tip: did you mean {suggested}?"));
        let pasted = project.paste(suggested);
        assert_ne!(
            pasted.code,
            i32::from(exit::USAGE),
            "{suggested}\n{}",
            pasted.dump()
        );
    }
    // Applied by the pasted `up`, in the order of the cases.
    assert_eq!(
        db.value("SELECT count(*) FROM tb_confiture").as_deref(),
        Some("2")
    );

    // A connection string is never repeated: its place holds `<URL>`.
    let url = "postgresql://postgres:s3cretpw@127.0.0.1:5432/nowhere";
    project
        .run(&["--database-url", url, "status"])
        .code(exit::USAGE)
        .stderr_has("tip: did you mean `cargo confiture --database-url <URL> migrate status`?")
        .stderr_lacks("s3cretpw");

    for args in [&["init"][..], &["migrate", "init"]] {
        let run = project.run(args);
        run.code(exit::USAGE)
            .stderr_has("tip: there is no `init`: `cargo confiture migrate generate NAME`");
    }
    let run = project.run(&["--format", "json", "up"]);
    let doc = json_error(&run, exit::USAGE, "usage");
    let help = doc["error"]["help"].as_str().unwrap_or_default();
    assert!(
        help.contains("did you mean `cargo confiture --format json migrate up`?"),
        "{}",
        run.dump()
    );
    // Too far from every subcommand: no tip.
    project
        .run(&["deploy"])
        .code(exit::USAGE)
        .stderr_lacks("tip:");
}

/// `--migrations-dir db/migrations` typed in a subdirectory (`src/`) named a directory that is
/// not there, and its help said to create it with `migrate generate` — which did, starting a
/// second, empty history in `src/db/migrations`. The flag is relative to the current
/// directory; when the path is there from the workspace root, the refusal (exit 5, nothing
/// created) names the flag that reaches it from here, and pasted that runs.
#[test]
fn a_migrations_dir_given_from_a_subdirectory_names_the_one_at_the_root() {
    let project = Project::two_tables();
    project.write("src/main.rs", "fn main() {}\n");
    project.write("sql/001_a.up.sql", "SELECT 1;\n");
    project.write("sql/001_a.down.sql", "SELECT 1;\n");
    let in_src = |args: &[&str]| Run::of(project.cli().current_dir(project.path("src")).args(args));
    let src = project.path("src").canonicalize().unwrap();
    for (dir, default) in [("db/migrations", true), ("sql", false)] {
        for args in [
            &["migrate", "generate", "x", "--migrations-dir", dir][..],
            &["lint", "--migrations-dir", dir],
        ] {
            let run = in_src(args);
            run.code(exit::INVALID)
                .stderr_has(&format!(
                    "migrations directory `{dir}` does not exist in `{}`: --migrations-dir is \
                     relative to the current directory",
                    src.display()
                ))
                .stderr_has(&format!(
                    "help: the workspace root has `{dir}`: from here it is `--migrations-dir \
                     ../{dir}`"
                ))
                .stderr_lacks("create it");
            assert_eq!(
                run.stderr.contains("or leave the flag out"),
                default,
                "{}",
                run.dump()
            );
        }
        let src_dir = project.path("src").join(dir);
        assert!(!src_dir.exists(), "{} was created", src_dir.display());
        let pasted = Run::of(project.cli().current_dir(project.path("src")).args([
            "lint",
            "--migrations-dir",
            &format!("../{dir}"),
        ]));
        pasted.code(exit::SUCCESS);
    }
    // A directory that is nowhere: still the "does not exist" of the directory, at its path.
    in_src(&["lint", "--migrations-dir", "nowhere"])
        .code(exit::INVALID)
        .stderr_has("migrations directory `nowhere` does not exist")
        .stderr_lacks("workspace root has");
}

/// A `-c` path that does not exist said only "check the path given to -c, or use --env NAME",
/// where `--env` and every other mistyped name get the one did-you-mean: `-c staging` or `-c
/// staging.yaml` (an environment's name given as its file) names `--env staging`, and a file
/// name close to one beside it (`-c db/environments/stagin.yaml`) names that file; pasted, each
/// runs.
#[test]
fn a_missing_environment_file_suggests_the_environment_or_the_file_it_meant() {
    let db = TestDb::new("usage_c_missing");
    let project = Project::two_tables();
    let url = format!("database_url: {}\n", db.url());
    project.write("db/environments/staging.yaml", &url);
    for (given, help) in [
        ("staging", "did you mean `--env staging`?"),
        ("staging.yaml", "did you mean `--env staging`?"),
        ("staging.yml", "did you mean `--env staging`?"),
        (
            "db/environments/stagin.yaml",
            "did you mean `-c db/environments/staging.yaml`?",
        ),
    ] {
        project
            .run(&["migrate", "status", "-c", given])
            .code(exit::INVALID)
            .stderr_has(&format!("environment file {given} does not exist"))
            .stderr_has(help);
    }
    project
        .run(&["migrate", "status", "--env", "staging"])
        .code(exit::NOT_INITIALISED);
    project
        .run(&["migrate", "status", "-c", "db/environments/staging.yaml"])
        .code(exit::NOT_INITIALISED);
    // Nothing close: the plain help.
    project
        .run(&["migrate", "status", "-c", "db/environments/production.yaml"])
        .code(exit::INVALID)
        .stderr_has("check the path given to -c")
        .stderr_lacks("did you mean");
}

/// `-c db/environments/staging.yaml` typed in `src/` said only that the file does not exist
/// ("check the path given to -c"): the path is relative to the current directory. When it is
/// there from the workspace root, the error says so and names the `-c` path from here (and
/// `--env NAME` for a file of the environments directory); pasted, each runs.
#[test]
fn an_environment_file_given_from_a_subdirectory_names_the_one_at_the_root() {
    let db = TestDb::new("usage_c_subdir");
    let project = Project::two_tables();
    project.write("src/main.rs", "fn main() {}\n");
    let url = format!("database_url: {}\n", db.url());
    project.write("db/environments/staging.yaml", &url);
    project.write("config/ci.yaml", &url);
    let in_src = |args: &[&str]| Run::of(project.cli().current_dir(project.path("src")).args(args));
    let cases = [
        (
            "db/environments/staging.yaml",
            "`-c ../db/environments/staging.yaml`, or `--env staging`",
        ),
        ("config/ci.yaml", "`-c ../config/ci.yaml`"),
    ];
    for (file, help) in cases {
        let run = in_src(&["migrate", "status", "-c", file]);
        run.code(exit::INVALID)
            .stderr_has(&format!(
                "environment file {file} does not exist in `{}`: the path given to -c is \
                 relative to the current directory",
                project.path("src").canonicalize().unwrap().display()
            ))
            .stderr_has(&format!(
                "help: the workspace root has it: from here it is {help}"
            ));
        if file == "config/ci.yaml" {
            run.stderr_lacks("--env");
        }
        let pasted = Run::of(project.cli().current_dir(project.path("src")).args([
            "migrate",
            "status",
            "-c",
            &format!("../{file}"),
        ]));
        // Pending: the database is reached, its ledger not yet made.
        pasted.code(exit::NOT_INITIALISED);
    }
    in_src(&["migrate", "status", "--env", "staging"]).code(exit::NOT_INITIALISED);
    // A file that is nowhere: the plain "does not exist".
    in_src(&["migrate", "status", "-c", "nowhere.yaml"])
        .code(exit::INVALID)
        .stderr_has("environment file nowhere.yaml does not exist")
        .stderr_lacks("workspace root has");
}

/// A duration flag too long (`--lock-wait 700h`) was told "`596h`, or `0` for no limit"
/// whatever the flag, but `--lock-wait 0` tries the lock once and gives up at once, and
/// `--wait-for-server 0` fails at the first refusal: pasted, the hint did the opposite of
/// "no limit". `0` is offered only to the flags where it lifts the limit.
#[test]
fn a_too_long_duration_offers_0_only_where_it_means_no_limit() {
    let project = Project::new();
    for (flag, zero_lifts_the_limit) in [
        ("--lock-wait", false),
        ("--wait-for-server", false),
        ("--lock-timeout-statement", true),
        ("--statement-timeout", true),
    ] {
        let run = project.run(&["migrate", "up", flag, "700h"]);
        run.code(exit::USAGE).stderr_has("`596h`");
        assert_eq!(
            run.stderr.contains("`0`"),
            zero_lifts_the_limit,
            "{flag}: {}",
            run.dump()
        );
    }
}

/// `cargo confiture up postgresql://...` was told "did you mean `cargo confiture migrate up
/// <URL>`?": pasted with the URL in its place, a usage error again (`migrate up` takes no
/// argument). A connection string that was no flag's value is suggested as the
/// `--database-url` it must be; one that was a flag's value keeps its flag.
#[test]
fn a_subcommand_tip_gives_a_stray_connection_string_its_flag() {
    let db = TestDb::new("usage_tip_url");
    let project = Project::two_tables();
    let url = db.url();
    project.write(
        "db/environments/local.yaml",
        format!("database_url: {url}\n"),
    );
    let cases: &[(&[&str], &str)] = &[
        (
            &["up", &url],
            "`cargo confiture migrate up --database-url <URL>`",
        ),
        (
            &["status", &url, "--format", "json"],
            "`cargo confiture migrate status --database-url <URL> --format json`",
        ),
        (
            &["--database-url", &url, "status"],
            "`cargo confiture --database-url <URL> migrate status`",
        ),
        (&["up", "-c", &url], "`cargo confiture migrate up -c <URL>`"),
        // A flag's value written in the same word keeps its flag, and a value that is no
        // connection string (`--env=local`) is kept as it is.
        (
            &["up", &format!("-c{url}")],
            "`cargo confiture migrate up -c <URL>`",
        ),
        (
            &["up", &format!("-qc={url}")],
            "`cargo confiture migrate up -qc <URL>`",
        ),
        (
            &["up", &format!("--config={url}")],
            "`cargo confiture migrate up --config=<URL>`",
        ),
        (
            &["up", "-c=nothere.yaml"],
            "`cargo confiture migrate up -c=nothere.yaml`",
        ),
        (
            &["status", "--env=local", "--format=json"],
            "`cargo confiture migrate status --env=local --format=json`",
        ),
    ];
    for (args, suggested) in cases {
        let run = project.run(args);
        run.code(exit::USAGE)
            .stderr_has(&format!("tip: did you mean {suggested}?"));
        if !suggested.contains("c <URL>") && !suggested.contains("--config=") {
            let pasted = project.paste(&suggested.replace("<URL>", &format!("'{url}'")));
            assert_ne!(
                pasted.code,
                i32::from(exit::USAGE),
                "{suggested}\n{}",
                pasted.dump()
            );
        }
    }
}

/// Run outside the workspace (`cd /tmp/x && cargo confiture migrate status --manifest-path
/// ws/Cargo.toml -c envs/dev.yaml`), a path there from the root only was said not to exist
/// "in `..`": the current directory relative to the workspace root, a path from nowhere the
/// user stands. The current directory is named absolute, for `-c` and `--migrations-dir`
/// alike.
#[test]
fn a_path_given_from_outside_the_workspace_names_the_current_directory_absolute() {
    let project = Project::two_tables();
    project.write(
        "db/environments/dev.yaml",
        "database_url: postgresql://u@h/db\n",
    );
    let root = project.path("").canonicalize().unwrap();
    let outside = root.parent().unwrap();
    let manifest = format!("{}/Cargo.toml", root.file_name().unwrap().to_str().unwrap());
    for (args, what) in [
        (
            &["migrate", "status", "-c", "db/environments/dev.yaml"][..],
            "environment file db/environments/dev.yaml",
        ),
        (
            &["lint", "--migrations-dir", "db/migrations"],
            "migrations directory `db/migrations`",
        ),
    ] {
        let run = Run::of(
            project
                .cli()
                .current_dir(outside)
                .args(args)
                .args(["--manifest-path", &manifest]),
        );
        run.code(exit::INVALID)
            .stderr_has(&format!(
                "{what} does not exist in `{}`: ",
                outside.display()
            ))
            .stderr_lacks("in `..`");
    }
}
