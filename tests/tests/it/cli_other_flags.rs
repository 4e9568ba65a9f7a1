//! A flag of other commands given to a command that lacks it (`migrate generate --lock-wait`,
//! `migrate status --dry-run`, `migrate up -D warnings`): said to be theirs, never clap's "to
//! pass '--lock-wait' as a value, use '-- --lock-wait'", which followed fails again (hcl C).

use confiture::exit;
use confiture_tests::Project;

#[test]
fn a_flag_of_other_commands_is_said_to_be_theirs() {
    let project = Project::two_tables();
    let lock_wait_commands = "`migrate up`, `migrate down`, `migrate status`, `migrate \
                              baseline`, `migrate reinit`, `migrate abandon`, `migrate drift`";
    // A command that never connects: said as the connection flags given to it are.
    for (args, typed) in [
        (
            &["migrate", "generate", "abc", "--lock-wait", "5s"][..],
            "--lock-wait",
        ),
        (
            &["migrate", "generate", "--lock-wait=5s", "abc"],
            "--lock-wait",
        ),
        (
            &["migrate", "generate", "abc", "--lock-timeout", "5s"],
            "--lock-timeout",
        ),
        (&["lint", "--lock-wait", "5s"], "--lock-wait"),
    ] {
        let words = if args[0] == "lint" {
            "lint"
        } else {
            "migrate generate"
        };
        let run = project.run(args);
        run.code(exit::USAGE)
            .stderr_has(&format!("unexpected argument '{typed}' found"))
            .stderr_has(&format!(
                "tip: `cargo confiture {words}` takes no {typed}: it never connects to a \
                 database ({typed} is for {lock_wait_commands})"
            ))
            .stderr_lacks("as a value")
            .stderr_lacks(&format!("-- {typed}"));
        assert!(!project.path("db/migrations/003_abc.up.sql").exists());
    }
    // The usage line names the options the command has.
    project
        .run(&["migrate", "generate", "abc", "--lock-wait", "5s"])
        .stderr_has("Usage: cargo confiture migrate generate [OPTIONS] <NAME>");
    let run = project.run(&[
        "migrate",
        "generate",
        "abc",
        "--format",
        "json",
        "--lock-wait",
        "5s",
    ]);
    run.code(exit::USAGE);
    let error = &run.json()["error"];
    assert_eq!(
        error["details"][0],
        "usage: cargo confiture migrate generate [OPTIONS] <NAME>",
        "{}",
        run.dump()
    );
    assert!(
        error["help"].as_str().is_some_and(
            |h| h.starts_with("`cargo confiture migrate generate` takes no --lock-wait")
        ),
        "{}",
        run.dump()
    );

    // Commands that connect: the commands that take it.
    let run = project.run(&["migrate", "status", "--dry-run"]);
    run.code(exit::USAGE).stderr_has(
        "tip: `cargo confiture migrate status` takes no --dry-run (--dry-run is for `migrate \
         generate`, `migrate up`, `migrate down`, `migrate baseline`, `migrate reinit`, `migrate \
         abandon`)",
    );
    let run = project.run(&["migrate", "up", "-D", "warnings"]);
    run.code(exit::USAGE)
        .stderr_has("tip: `cargo confiture migrate up` takes no -D (-D is for `lint`)");
    let run = project.run(&["migrate", "verify", "--yes"]);
    run.code(exit::USAGE).stderr_has(
        "tip: `cargo confiture migrate verify` takes no --yes (--yes is for `migrate down`, \
         `migrate baseline`, `migrate reinit`)",
    );
    // A misspelling of the command's own flag is still suggested as such, and a flag no
    // command has gets no such tip.
    project
        .run(&["migrate", "up", "--dry_run"])
        .code(exit::USAGE)
        .stderr_has("'--dry-run'")
        .stderr_lacks("takes no");
    project
        .run(&["migrate", "up", "--everything"])
        .code(exit::USAGE)
        .stderr_lacks("takes no");
}

/// A flag of a subcommand given before it (`migrate --steps 2 down`, `--steps=2 migrate down`):
/// the tip is the command line with the flag, and its value, after that subcommand, the other
/// words kept where they are (a connection string as `<URL>`); never clap's "a similar argument
/// exists: '--steps'", the very flag typed.
#[test]
fn a_flag_given_before_its_subcommand_is_shown_after_it() {
    let project = Project::two_tables();
    for (args, typed, line) in [
        (
            &["migrate", "--steps", "2", "down"][..],
            "--steps",
            "cargo confiture migrate down --steps 2",
        ),
        (
            &["--steps=2", "migrate", "down", "--yes"],
            "--steps",
            "cargo confiture migrate down --steps=2 --yes",
        ),
        (
            &["migrate", "--lock-wait", "5s", "--dry-run", "up"],
            "--lock-wait",
            "cargo confiture migrate up --lock-wait 5s --dry-run",
        ),
        (
            &["migrate", "--env", "local", "--targets", "t.txt", "up"],
            "--targets",
            "cargo confiture migrate --env local up --targets t.txt",
        ),
        (
            &[
                "--database-url",
                "postgresql://u:secret@h/d",
                "migrate",
                "-D",
                "x",
                "lint",
            ],
            "-D",
            "",
        ),
        (
            &[
                "--database-url",
                "postgresql://u:secret@h/d",
                "migrate",
                "--steps",
                "1",
                "down",
            ],
            "--steps",
            "cargo confiture --database-url <URL> migrate down --steps 1",
        ),
    ] {
        let run = project.run(args);
        run.code(exit::USAGE)
            .stderr_has(&format!("unexpected argument '{typed}' found"))
            .stderr_lacks("similar argument")
            .stderr_lacks("secret");
        if line.is_empty() {
            continue;
        }
        let here = line
            .split(' ')
            .skip(2)
            .filter(|w| ["migrate", "down", "up"].contains(w))
            .collect::<Vec<_>>()
            .join(" ");
        run.stderr_has(&format!(
            "tip: {typed} is an option of `cargo confiture {here}`: give it after `{here}`, as \
             in `{line}`"
        ))
        .stderr_has(&format!("Usage: cargo confiture {here} [OPTIONS]"));
    }
    // The line shown, pasted, runs what was meant.
    let run = project.run(&["migrate", "--dry-run", "generate", "abc"]);
    run.code(exit::USAGE);
    let line = run
        .stderr
        .split("as in ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no command line in the tip: {}", run.dump()));
    assert_eq!(line, "`cargo confiture migrate generate --dry-run abc`");
    project.paste(line).code(exit::SUCCESS);
    assert!(!project.path("db/migrations/003_abc.up.sql").exists());
}
