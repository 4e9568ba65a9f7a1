//! The release flow against a local PostgreSQL, on a throwaway workspace and database: a dry
//! run applies nothing; a release applies and ends up to date; a wrong down, a diverged
//! history and drift each stop it before anything is applied (drift unless allowed).

use confiture::exit;
use confiture::workspace::Workspace;
use confiture_tests::{Project, TestDb};
use xtask_release::{release, ReleaseOptions, StepState, Summary};

/// A workspace with two migrations and the environment `test` naming `db`.
fn project(db: &TestDb) -> Project {
    let project = Project::new();
    project
        .migration(
            "001_create_tb_user",
            "CREATE TABLE tb_user (id bigint PRIMARY KEY, email text NOT NULL);\n",
            "DROP TABLE tb_user;\n",
        )
        .migration(
            "002_index_email",
            "CREATE UNIQUE INDEX idx_tb_user_email ON tb_user (email);\n",
            "DROP INDEX idx_tb_user_email;\n",
        )
        .write(
            "db/environments/test.yaml",
            format!("name: test\ndatabase_url: {}\n", db.url()),
        );
    project
}

fn run(project: &Project, options: ReleaseOptions) -> Summary {
    let ws = Workspace::discover(&project.root).unwrap();
    let mut lines = Vec::new();
    let summary = release(&ws, &options, &mut |l| lines.push(l.to_string()));
    eprintln!("{}\n{}", lines.join("\n"), summary.render());
    summary
}

fn options(dry_run: bool, allow_drift: bool) -> ReleaseOptions {
    ReleaseOptions {
        env: "test".to_string(),
        dry_run,
        allow_drift,
        scratch_url: None,
    }
}

fn states(summary: &Summary) -> Vec<(&str, StepState)> {
    summary.steps.iter().map(|s| (s.name, s.state)).collect()
}

#[test]
fn a_dry_run_stops_before_applying_and_a_release_applies() {
    let db = TestDb::new("release");
    let project = project(&db);
    let summary = run(&project, options(true, false));
    assert_eq!(summary.exit_code, exit::SUCCESS);
    assert_eq!(
        states(&summary),
        [
            ("lint", StepState::Passed),
            ("verify", StepState::Passed),
            ("status", StepState::Passed),
            ("drift", StepState::Passed),
            ("apply", StepState::Skipped),
            ("final status", StepState::Skipped),
        ]
    );
    assert_eq!(summary.steps[2].outcome, "pending: 001, 002");
    assert_eq!(db.ledger(), None, "a dry run applied something");
    let text = summary.render();
    assert!(text.starts_with("release to test (dry run)\n"), "{text}");
    assert!(text.contains("  verify        ok"), "{text}");

    let summary = run(&project, options(false, false));
    assert_eq!(summary.exit_code, exit::SUCCESS);
    assert!(summary.steps.iter().all(|s| s.state == StepState::Passed));
    assert_eq!(summary.steps[4].outcome, "applied 001, 002");
    assert_eq!(summary.steps[5].outcome, "up to date");
    assert_eq!(db.ledger().unwrap().len(), 2);
}

#[test]
fn a_wrong_down_stops_the_release_at_verify() {
    let db = TestDb::new("release_verify");
    let project = project(&db);
    project.write("db/migrations/002_index_email.down.sql", "SELECT 1;\n");
    let summary = run(&project, options(false, false));
    assert_eq!(summary.exit_code, exit::SCHEMA_CHECK_FAILED);
    assert_eq!(summary.steps[1].state, StepState::Failed);
    assert_eq!(
        summary.steps[1].outcome,
        "002_index_email: index public.idx_tb_user_email: left behind by 002_index_email.down.sql"
    );
    assert!(summary.steps[2..]
        .iter()
        .all(|s| s.state == StepState::Skipped));
    assert_eq!(db.ledger(), None);
}

#[test]
fn a_diverged_history_stops_the_release_at_the_status_gate() {
    let db = TestDb::new("release_status");
    let project = project(&db);
    assert_eq!(
        run(&project, options(false, false)).exit_code,
        exit::SUCCESS
    );
    project.write(
        "db/migrations/001_create_tb_user.up.sql",
        "CREATE TABLE tb_user (id bigint PRIMARY KEY, email text NOT NULL, bio text);\n",
    );
    let summary = run(&project, options(false, false));
    assert_eq!(summary.exit_code, exit::DIVERGED);
    assert_eq!(summary.steps[2].state, StepState::Failed);
    assert!(summary.steps[2].outcome.contains("001"), "{summary:?}");
}

#[test]
fn drift_stops_the_release_unless_allowed() {
    let db = TestDb::new("release_drift");
    let project = project(&db);
    assert_eq!(
        run(&project, options(false, false)).exit_code,
        exit::SUCCESS
    );
    db.connect()
        .batch_execute("ALTER TABLE tb_user ADD COLUMN nickname text")
        .unwrap();
    project.migration(
        "003_add_bio",
        "ALTER TABLE tb_user ADD COLUMN bio text;\n",
        "ALTER TABLE tb_user DROP COLUMN bio;\n",
    );
    let summary = run(&project, options(false, false));
    assert_eq!(summary.exit_code, exit::SCHEMA_CHECK_FAILED);
    assert_eq!(summary.steps[3].state, StepState::Failed);
    assert!(
        summary.steps[3]
            .outcome
            .contains("column public.tb_user.nickname"),
        "{summary:?}"
    );
    assert_eq!(db.ledger().unwrap().len(), 2, "applied despite drift");

    let summary = run(&project, options(false, true));
    assert_eq!(summary.exit_code, exit::SUCCESS);
    assert_eq!(summary.steps[3].state, StepState::Allowed);
    assert_eq!(summary.steps[4].outcome, "applied 003");
    assert_eq!(db.ledger().unwrap().len(), 3);
}

#[test]
fn arguments() {
    let args = |a: &[&str]| {
        xtask_release::parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    let o = args(&["--env", "staging", "--dry-run", "--allow-drift"]).unwrap();
    assert_eq!(
        (o.env.as_str(), o.dry_run, o.allow_drift),
        ("staging", true, true)
    );
    assert!(args(&["--dry-run"]).unwrap_err().contains("--env"));
    assert!(args(&["--env", "x", "--bogus"])
        .unwrap_err()
        .contains("--bogus"));
}

/// hhx: `{:?}` of the options showed `scratch_url` as written, password and all.
#[test]
fn the_options_debug_never_shows_the_scratch_url_password() {
    let options = ReleaseOptions {
        scratch_url: Some("postgresql://ci:hunter2-Secret@scratch.internal/postgres".into()),
        ..options(false, false)
    };
    let shown = format!("{options:?}");
    assert!(!shown.contains("hunter2-Secret"), "{shown}");
    assert!(
        shown.contains("ci@scratch.internal:5432/postgres"),
        "{shown}"
    );
}

/// hhx: an argument the parser did not know was quoted in its error, so that
/// `--scratch-url=postgresql://ci:PW@host/postgres` (the `=` form) or a URL given where no
/// flag takes it printed the password to the CI log; and `--scratch-url` or `--env` given last,
/// without a value, was taken as not given: the scratch databases went to the target's server.
#[test]
fn arguments_never_echo_a_password_nor_drop_a_missing_value() {
    let args = |a: &[&str]| {
        xtask_release::parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    };
    let url = "postgresql://ci:hunter2-Secret@scratch.internal/postgres";
    for given in [
        vec!["--env", "staging", &format!("--scratch-url={url}")],
        vec!["--env", "staging", url],
        vec![
            "--env",
            "staging",
            "host=scratch.internal password=hunter2-Secret",
        ],
    ] {
        let refused = args(&given).unwrap_err();
        assert!(!refused.contains("hunter2"), "{given:?}: {refused}");
        assert!(refused.contains("not shown"), "{given:?}: {refused}");
    }
    // hwd 4: a connection string given as an argument is refused in the library's one wording
    // (`confiture::config::connection_given_as`), never a copy of it.
    let said = confiture::config::connection_given_as(
        confiture::config::InPlaceOf::Argument {
            given_to: xtask_release::PROGRAM,
        },
        "give the scratch server as `--scratch-url URL`",
    );
    for given in [
        url,
        "host=scratch.internal password=hunter2-Secret",
        "ci@scratch",
    ] {
        let refused = args(&["--env", "staging", given]).unwrap_err();
        assert!(refused.starts_with(&said.message), "{given:?}: {refused}");
        assert!(
            refused.ends_with(said.help.as_deref().unwrap_or_default()),
            "{given:?}: {refused}"
        );
    }
    // The flag of the `=` form is named, so that the way to write it can be said.
    let refused = args(&["--env", "staging", &format!("--scratch-url={url}")]).unwrap_err();
    assert!(refused.contains("`--scratch-url VALUE`"), "{refused}");
    let refused = args(&["--env=staging"]).unwrap_err();
    assert!(refused.contains("`--env VALUE`"), "{refused}");
    let refused = args(&["--env", "staging", "--scratch-url"]).unwrap_err();
    assert!(refused.contains("--scratch-url"), "{refused}");
    let refused = args(&["--dry-run", "--env"]).unwrap_err();
    assert!(refused.contains("--env"), "{refused}");
}

/// hhx: the status gate listed only the modified, missing, out-of-order and duplicate
/// migrations, so a history diverged another way (a migration replaced, renumbered, ambiguous
/// or interrupted: exit 7 all the same) stopped the release with `the history diverged ():
/// fix it first`, naming nothing. It names each migration that diverged, with how.
#[test]
fn the_status_gate_names_every_migration_that_diverged() {
    let db = TestDb::new("release_replaced");
    let project = project(&db);
    assert_eq!(
        run(&project, options(false, false)).exit_code,
        exit::SUCCESS
    );
    // 002 applied, its files deleted, another migration numbered 002 in their place.
    project
        .remove("db/migrations/002_index_email.up.sql")
        .remove("db/migrations/002_index_email.down.sql")
        .migration(
            "002_add_bio",
            "ALTER TABLE tb_user ADD COLUMN bio text;\n",
            "ALTER TABLE tb_user DROP COLUMN bio;\n",
        );
    let summary = run(&project, options(false, false));
    assert_eq!(summary.exit_code, exit::DIVERGED);
    assert_eq!(summary.steps[2].state, StepState::Failed, "{summary:?}");
    let outcome = &summary.steps[2].outcome;
    assert!(outcome.contains("002_index_email replaced"), "{outcome}");
    assert_eq!(db.ledger().unwrap().len(), 2, "nothing applied");
}

/// hhx: the lint step checked the files with options of its own (the default tracking table),
/// not the environment's session's (`Migrator::load`): a migration writing the environment's
/// configured tracking table passed lint, and the release failed at `verify` with a files
/// error instead. Lint checks the files as every later step reads them.
#[test]
fn lint_checks_the_files_as_the_environment_reads_them() {
    let db = TestDb::new("release_lint");
    let project = project(&db);
    project
        .write(
            "db/environments/test.yaml",
            format!(
                "name: test\ndatabase_url: {}\nmigration:\n  tracking_table: app_ledger\n",
                db.url()
            ),
        )
        .migration(
            "003_touch_ledger",
            "DELETE FROM app_ledger WHERE version = '002';\n",
            "SELECT 1;\n",
        );
    let summary = run(&project, options(true, false));
    assert_eq!(summary.exit_code, exit::INVALID, "{summary:?}");
    assert_eq!(summary.steps[0].state, StepState::Failed, "{summary:?}");
    assert!(summary.steps[0].outcome.contains("C108"), "{summary:?}");
    assert!(summary.steps[1..]
        .iter()
        .all(|s| s.state == StepState::Skipped));
}

/// A failed step's summary line says what failed in one line; its whole account — every file
/// lint refused, an error's details and help — is kept for stderr (`Summary::failure_report`),
/// not lost (it was: the steps printed only the error's message).
#[test]
fn a_failed_steps_whole_account_is_reported_after_the_summary() {
    let db = TestDb::new("release_report");
    let broken = project(&db);
    broken
        .migration(
            "003_bad",
            "INSERT INTO tb_confiture DEFAULT VALUES;\n",
            "SELECT 1;\n",
        )
        .migration("004_worse", "DELETE FROM tb_confiture;\n", "SELECT 1;\n");
    let summary = run(&broken, options(true, false));
    assert_eq!(summary.steps[0].state, StepState::Failed, "{summary:?}");
    let report = summary
        .failure_report()
        .expect("lint's errors are reported");
    assert!(report.starts_with("lint failed:\n"), "{report}");
    assert!(report.contains("003_bad.up.sql"), "{report}");
    assert!(report.contains("004_worse.up.sql"), "{report}");

    // Every difference verify found, not only the first.
    let db = TestDb::new("release_report_verify");
    let wrong = project(&db);
    wrong.migration(
        "003_two_tables",
        "CREATE TABLE tb_a (id int);\nCREATE TABLE tb_b (id int);\n",
        "SELECT 1;\n",
    );
    let summary = run(&wrong, options(true, false));
    assert_eq!(summary.steps[1].state, StepState::Failed, "{summary:?}");
    let report = summary
        .failure_report()
        .expect("verify's findings are reported");
    assert!(report.starts_with("verify failed:\n"), "{report}");
    assert!(
        report.contains("003_two_tables: table public.tb_a"),
        "{report}"
    );
    assert!(
        report.contains("003_two_tables: table public.tb_b"),
        "{report}"
    );

    // An error's details and help: an environment that does not exist.
    let summary = run(
        &wrong,
        ReleaseOptions {
            env: "nowhere".to_string(),
            ..options(true, false)
        },
    );
    let report = summary.failure_report().expect("the error is reported");
    assert!(report.starts_with("environment failed:\n"), "{report}");
    assert!(
        report.contains("help:"),
        "the whole report, help included: {report}"
    );

    // A release that passes has nothing to report.
    let db = TestDb::new("release_report_ok");
    let summary = run(&project(&db), options(true, false));
    assert_eq!(summary.exit_code, exit::SUCCESS, "{summary:?}");
    assert_eq!(summary.failure_report(), None);
}
