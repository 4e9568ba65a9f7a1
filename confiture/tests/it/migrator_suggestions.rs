//! The commands a library session's errors suggest (`Migrator::suggesting`): pasted from a
//! service's log, each must reach the database and the migrations the service used — its
//! environment or a `--database-url <URL>` placeholder, its migrations directory — exactly
//! once, never the shell directory's default environment.
#![cfg(feature = "db")]

use crate::common;

use common::{TempDir, TestDb};
use confiture::files::CheckOptions;
use confiture::fleet::{Fleet, Target};
use confiture::hint::Invocation;
use confiture::migrate::{no_progress, UpOptions};
use confiture::workspace::{Settings, Workspace};
use confiture::Migrator;

/// Every `` `cargo confiture ...` `` command in `text`.
fn commands(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with("cargo confiture "))
        .collect()
}

/// The suggested commands of `help`, each checked: it names the database as `database` says,
/// once, and the migrations directory `dir` once (or not at all for `None`).
fn assert_completed(help: &str, database: &str, dir: Option<&str>) {
    let found = commands(help);
    assert!(!found.is_empty(), "no suggested command in: {help}");
    for command in found {
        // The commands that never connect (`hint`'s files-only ones) name no database.
        let files_only = ["cargo confiture lint", "cargo confiture migrate generate"]
            .iter()
            .any(|c| command.starts_with(c));
        let expected = usize::from(!files_only);
        assert_eq!(
            command.matches(database).count(),
            expected,
            "{database} in `{command}` of: {help}"
        );
        for other in ["--database-url", "--env ", "-c "] {
            if !database.starts_with(other) {
                assert!(!command.contains(other), "{other} in `{command}`: {help}");
            }
        }
        match dir {
            Some(dir) => assert_eq!(
                command.matches(&format!("--migrations-dir {dir}")).count(),
                1,
                "`{command}` of: {help}"
            ),
            None => assert!(!command.contains("--migrations-dir"), "`{command}`"),
        }
    }
}

fn write_pair(dir: &TempDir, relative: &str, version: &str, up: &str) {
    dir.write(&format!("{relative}/{version}_t.up.sql"), up);
    dir.write(
        &format!("{relative}/{version}_t.down.sql"),
        "DROP TABLE t;\n",
    );
}

#[test]
fn a_session_on_a_url_suggests_the_url_placeholder_and_its_directory() {
    let db = TestDb::new("suggest_url");
    let root = TempDir::new("cft_suggest");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    let dir = root.path().join("sql");
    let dir_text = dir.display().to_string();
    let mut migrator = Migrator::new(db.environment(), &dir, CheckOptions::default());
    migrator
        .up(&UpOptions::default(), &mut no_progress)
        .expect("applies");

    // Edited once applied: `up` refuses (exit 7) and suggests accepting or checking it.
    write_pair(&root, "sql", "001", "CREATE TABLE t (id bigint);\n");
    let failed = Migrator::new(db.environment(), &dir, CheckOptions::default())
        .up(&UpOptions::default(), &mut no_progress)
        .expect_err("a modified migration is refused");
    let help = failed.error.help.as_deref().expect("help");
    assert_completed(help, "--database-url <URL>", Some(&dir_text));
    // The report a deploy script reads carries the same help.
    let reported = failed.report.errors.first().expect("the error is reported");
    assert_eq!(reported.help.as_deref(), Some(help));

    // `status` and `load` complete theirs too: a broken file.
    root.write("sql/002_u.up.sql", "CREATE TABLE u (id int);\n");
    let load = Migrator::new(db.environment(), &dir, CheckOptions::default())
        .load()
        .map(|checked| checked.diagnostics.len());
    match load {
        // A lone up file is a diagnostic of the set, not an error of `load`; `up` refuses it.
        Ok(n) => assert!(n > 0, "the lone up file is reported"),
        Err(e) => assert_completed(
            e.help.as_deref().unwrap_or(""),
            "--database-url <URL>",
            Some(&dir_text),
        ),
    }
    let refused = Migrator::new(db.environment(), &dir, CheckOptions::default())
        .up(&UpOptions::default(), &mut no_progress)
        .expect_err("broken files are refused");
    assert_completed(
        refused.error.help.as_deref().expect("help"),
        "--database-url <URL>",
        Some(&dir_text),
    );
}

#[test]
fn a_session_of_a_named_environment_suggests_that_environment() {
    let db = TestDb::new("suggest_env");
    let root = TempDir::new("cft_suggest");
    root.write(
        "db/environments/staging.yaml",
        &format!("database_url: {}\n", db.url()),
    );
    write_pair(&root, "db/migrations", "001", "CREATE TABLE t (id int);\n");
    let ws = Workspace {
        root: root.path().to_path_buf(),
        start: root.path().to_path_buf(),
        manifest: None,
        package_manifest: None,
        settings: Settings::default(),
    };
    Migrator::from_env(&ws, "staging")
        .unwrap()
        .up(&UpOptions::default(), &mut no_progress)
        .expect("applies");
    write_pair(
        &root,
        "db/migrations",
        "001",
        "CREATE TABLE t (id bigint);\n",
    );
    let failed = Migrator::from_env(&ws, "staging")
        .unwrap()
        .up(&UpOptions::default(), &mut no_progress)
        .expect_err("a modified migration is refused");
    // The workspace's own directory is found by a command run in the workspace: not repeated.
    assert_completed(
        failed.error.help.as_deref().expect("help"),
        "--env staging",
        None,
    );
    let status = Migrator::from_env(&ws, "staging")
        .unwrap()
        .status()
        .unwrap();
    assert_eq!(status.modified.len(), 1, "{status:?}");
}

#[test]
fn a_caller_that_completes_them_itself_gets_them_as_written() {
    let db = TestDb::new("suggest_none");
    let root = TempDir::new("cft_suggest");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    let dir = root.path().join("sql");
    Migrator::new(db.environment(), &dir, CheckOptions::default())
        .up(&UpOptions::default(), &mut no_progress)
        .expect("applies");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id bigint);\n");
    let failed = Migrator::new(db.environment(), &dir, CheckOptions::default())
        .suggesting(Invocation::default())
        .up(&UpOptions::default(), &mut no_progress)
        .expect_err("a modified migration is refused");
    let help = failed.error.help.as_deref().expect("help");
    let found = commands(help);
    assert!(!found.is_empty(), "{help}");
    for command in found {
        assert!(
            !command.contains("--database-url") && !command.contains("--migrations-dir"),
            "`{command}` was completed: {help}"
        );
    }
}

/// Runs `up` on `targets` (each call a fresh list), edits one ledger with `edit` (its checksum
/// no longer the file's), adds migration 002, runs `up` again with `--keep-going`: the help of
/// the one target refused (exit 7).
fn help_of_the_edited_target(
    root: &TempDir,
    migrator: &Migrator,
    targets: impl Fn() -> Vec<Target>,
    edit: impl FnOnce(),
) -> String {
    Fleet::for_migrator(migrator, targets())
        .up(&UpOptions::default(), &|_| {})
        .expect("the fleet runs");
    edit();
    write_pair(root, "sql", "002", "CREATE TABLE u (id int);\n");
    let report = Fleet::for_migrator(migrator, targets())
        .keep_going(true)
        .up(&UpOptions::default(), &|_| {})
        .expect("the fleet runs");
    let failed: Vec<_> = report.failed().collect();
    assert_eq!(failed.len(), 1, "{report:?}");
    failed[0]
        .error
        .as_ref()
        .and_then(|e| e.help.clone())
        .expect("the edited target's help")
}

#[test]
fn a_fleet_suggests_each_target_its_own_placeholder_once() {
    let good = TestDb::new("suggest_fleet");
    let edited = TestDb::new("suggest_fleet");
    let root = TempDir::new("cft_suggest");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    let dir = root.path().join("sql");
    let base = good.environment();
    let targets = || {
        vec![
            Target::url(&base, &good.url(), "good").unwrap(),
            Target::url(&base, &edited.url(), "edited").unwrap(),
        ]
    };
    let migrator = Migrator::new(base.clone(), &dir, CheckOptions::default());
    let help = help_of_the_edited_target(&root, &migrator, targets, || {
        edited
            .client()
            .batch_execute("UPDATE tb_confiture SET checksum = repeat('0', 64)")
            .unwrap();
    });
    assert_completed(
        &help,
        "--database-url <URL>",
        Some(&dir.display().to_string()),
    );
}

#[test]
fn verify_completes_its_errors_once() {
    let db = TestDb::new("suggest_verify");
    let root = TempDir::new("cft_suggest");
    // Two statements in a no-transaction migration: refused before any scratch database.
    write_pair(
        &root,
        "sql",
        "001",
        "-- confiture:no-transaction\nCREATE TABLE t (id int);\nSELECT 1 / 0;\n",
    );
    let dir = root.path().join("sql");
    let failed = Migrator::new(db.environment(), &dir, CheckOptions::default())
        .verify(&confiture::verify::VerifyOptions::default(), &mut |_| {});
    let (help, reported) = match failed {
        Err(f) => (
            f.error.help.clone().unwrap_or_default(),
            f.report.errors.first().and_then(|e| e.help.clone()),
        ),
        Ok(report) => panic!("verify passed or found: {report:?}"),
    };
    assert_completed(
        &help,
        "--database-url <URL>",
        Some(&dir.display().to_string()),
    );
    assert_eq!(reported.as_deref(), Some(help.as_str()));
}

#[test]
fn a_tenant_schemas_session_suggests_its_schema() {
    let db = TestDb::new("suggest_tenant");
    let root = TempDir::new("cft_suggest");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    let dir = root.path().join("sql");
    let base = db.environment();
    let tenants = || {
        vec![
            Target::schema(&base, "tenant_a", "a").unwrap(),
            Target::schema(&base, "tenant_b", "b").unwrap(),
        ]
    };
    let migrator = Migrator::new(base.clone(), &dir, CheckOptions::default());
    let dir_text = dir.display().to_string();
    // In a fleet: the tenant's own ledger, never the database's public one.
    let help = help_of_the_edited_target(&root, &migrator, tenants, || {
        db.client()
            .batch_execute("UPDATE tenant_b.tb_confiture SET checksum = repeat('0', 64)")
            .unwrap();
    });
    assert_completed(
        &help,
        "--database-url <URL> --schema tenant_b",
        Some(&dir_text),
    );
    // On its own, as a service would address one tenant.
    let tenant = Target::schema(&base, "tenant_b", "tenant_b").unwrap();
    let failed = Migrator::new(tenant.environment, &dir, CheckOptions::default())
        .up(&UpOptions::default(), &mut no_progress)
        .expect_err("the edited tenant is refused");
    assert_completed(
        failed.error.help.as_deref().expect("help"),
        "--database-url <URL> --schema tenant_b",
        Some(&dir_text),
    );
}

/// A library fleet's target listed by name (on the environment's server, with its settings)
/// was suggested `--database-url <URL>` as if it were any URL: pasted, the command lost the
/// environment's tracking table and connection settings without a word. Each target's help is
/// now the command line's: the commands that take a list select it by the environment and a
/// list of its name; the others, by `--database-url <URL>`, say which `migration:` settings
/// that loses and which connection settings the URL must carry.
#[test]
fn a_library_fleets_target_by_name_keeps_the_environment_or_says_what_a_url_drops() {
    let good = TestDb::new("suggest_named");
    let edited = TestDb::new("suggest_named");
    let root = TempDir::new("cft_suggest");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    let dir = root.path().join("sql");
    let mut base = good.environment();
    base.migration.tracking_table =
        confiture::ledger::TrackingTable::parse("tb_named_ledger").unwrap();
    base.connection.target_session_attrs = confiture::config::TargetSessionAttrs::ReadWrite;
    let targets = || {
        vec![
            Target::database(&base, &good.name, "good").unwrap(),
            Target::database(&base, &edited.name, "edited").unwrap(),
        ]
    };
    let migrator = Migrator::new(base.clone(), &dir, CheckOptions::default());
    let help = help_of_the_edited_target(&root, &migrator, targets, || {
        edited
            .client()
            .batch_execute("UPDATE tb_named_ledger SET checksum = repeat('0', 64)")
            .unwrap();
    });
    let listed = format!("--targets <(echo {})", edited.name);
    for command in commands(&help) {
        let takes_a_list = ["status", "verify", "drift", "reinit", "baseline"]
            .iter()
            .any(|c| command.starts_with(&format!("cargo confiture migrate {c}")));
        if takes_a_list {
            assert!(command.contains(&listed), "`{command}` of: {help}");
        }
    }
    // The refusal suggests `reinit`, which takes a list of that one target; the run itself
    // was selected by a URL (the library's environment has no name), so the help says what a
    // URL loses.
    assert!(
        help.contains(&format!("migrate reinit --database-url <URL> {listed}")),
        "{help}"
    );
    assert!(
        help.contains("`migration.tracking_table` would not apply")
            && help.contains("`target_session_attrs` in the URL too"),
        "{help}"
    );
}

/// A library session's errors name the option the caller can change (`DownOptions::yes`,
/// `UpOptions::allow_out_of_order`, ...) where they named the command line's flag (`add --yes
/// to confirm`, `--steps 0 would ...`), which a service has not got (h10 D1); suggested
/// commands keep their flags, and a caller that completes them itself (the CLI) keeps them all.
#[test]
fn a_library_session_names_its_options_not_the_flags() {
    use confiture::migrate::DownOptions;
    let db = TestDb::new("suggest_options");
    let root = TempDir::new("cft_suggest");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    let dir = root.path().join("sql");
    let session = || Migrator::new(db.environment(), &dir, CheckOptions::default());
    session()
        .up(&UpOptions::default(), &mut no_progress)
        .expect("applies");
    let texts = |e: &confiture::Error| format!("{} | {:?} | {:?}", e.message, e.details, e.help);
    let everything = DownOptions::default().target(Some(0));
    let refused = session()
        .down(&everything, &mut no_progress)
        .expect_err("needs yes");
    let text = texts(&refused.error);
    assert!(text.contains("`DownOptions::yes`"), "{text}");
    assert!(text.contains("`DownOptions::target` = 0"), "{text}");
    assert!(!text.contains("add --yes"), "{text}");
    let none = DownOptions::default().steps(Some(0));
    let refused = session()
        .down(&none, &mut no_progress)
        .expect_err("steps 0");
    let text = texts(&refused.error);
    assert!(
        text.starts_with("`DownOptions::steps` = 0 would roll back nothing"),
        "{text}"
    );
    // Edited once applied: `down` refuses it unless the down file is trusted.
    write_pair(&root, "sql", "001", "CREATE TABLE t (id bigint);\n");
    let refused = session()
        .down(&DownOptions::default(), &mut no_progress)
        .expect_err("modified");
    let text = texts(&refused.error);
    assert!(text.contains("`DownOptions::allow_modified`"), "{text}");
    // The report carries the same words.
    let reported = refused.report.errors.first().expect("reported");
    assert_eq!(reported.help, refused.error.help);
    // The CLI's way (it completes them itself): the flags.
    let refused = session()
        .suggesting(Invocation::default())
        .down(&everything, &mut no_progress)
        .expect_err("needs yes");
    let help = refused.error.help.unwrap_or_default();
    assert!(
        help.starts_with("add --yes to confirm (`cargo confiture migrate down --target 0 --yes`)"),
        "{help}"
    );
}

/// The flags of `status`, `verify` and `drift` whose option a library caller has, as their
/// texts may name them (`confiture::migrate::options`'s one map).
const PROOF_FLAGS: [&str; 6] = [
    "--lock-wait",
    "--statement-timeout",
    "--lock-timeout-statement",
    "--from",
    "--scratch-url",
    "--schema-dir",
];

/// `texts` (an error's message, details and help) outside its suggested commands.
fn outside_commands(texts: &str) -> String {
    texts
        .split('`')
        .enumerate()
        .filter(|(i, part)| i % 2 == 0 || !part.starts_with("cargo confiture "))
        .map(|(_, part)| part)
        .collect::<Vec<_>>()
        .join("`")
}

#[track_caller]
fn assert_no_flag(text: &str) {
    let outside = outside_commands(text);
    for flag in PROOF_FLAGS {
        assert!(!outside.contains(flag), "{flag} in: {text}");
    }
}

/// `verify`, `drift` and `status` of a library session name their options' fields
/// (`VerifyOptions::statement_timeout`, `DriftOptions::statement_timeout`,
/// `VerifyOptions::from`, `DriftOptions::scratch`), not the command line's flags, in the error
/// and in the report's error object (h10 D1, extended past up/down/baseline/reinit); a caller
/// that completes its suggestions itself (the CLI) keeps the flags.
#[test]
fn verify_drift_and_status_of_a_library_session_name_their_options_not_the_flags() {
    use confiture::drift::DriftOptions;
    use confiture::migrate::StatusOptions;
    use confiture::verify::{ScratchServer, VerifyOptions};
    use std::time::Duration;
    let db = TestDb::new("suggest_proof_options");
    let root = TempDir::new("cft_suggest_proof");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    root.write(
        "sql/002_s.up.sql",
        "CREATE TABLE s (a int);\nSELECT pg_sleep(0.5);\n",
    );
    root.write("sql/002_s.down.sql", "DROP TABLE s;\n");
    let dir = root.path().join("sql");
    let session = || Migrator::new(db.environment(), &dir, CheckOptions::default());
    let texts = |e: &confiture::Error| format!("{} | {:?} | {:?}", e.message, e.details, e.help);
    let reported = |r: &confiture::migrate::ReportedError| {
        format!("{} | {:?} | {:?}", r.message, r.details, r.help)
    };
    let quick = Some(Duration::from_millis(100));

    // verify: a replayed migration over the run's statement_timeout; a `from` naming nothing.
    let failed = session()
        .verify(
            &VerifyOptions::default().statement_timeout(quick),
            &mut |_| {},
        )
        .expect_err("times out");
    let text = texts(&failed.error);
    assert!(
        text.contains("`VerifyOptions::statement_timeout`"),
        "{text}"
    );
    assert_no_flag(&text);
    assert_no_flag(&reported(&failed.report.errors[0]));
    let failed = session()
        .verify(&VerifyOptions::default().from(Some(99)), &mut |_| {})
        .expect_err("no version 99");
    let text = texts(&failed.error);
    assert!(text.starts_with("`VerifyOptions::from` = 99"), "{text}");
    assert_no_flag(&text);
    // The CLI's way: the flags.
    let failed = session()
        .suggesting(Invocation::default())
        .verify(&VerifyOptions::default().from(Some(99)), &mut |_| {})
        .expect_err("no version 99");
    assert!(
        failed.error.message.starts_with("--from 99"),
        "{}",
        failed.error.message
    );

    // drift: the replay of the applied migrations over the statement_timeout; a scratch
    // server where the role may not log in.
    session()
        .up(&UpOptions::default(), &mut no_progress)
        .expect("applies");
    let failed = session()
        .drift(
            &DriftOptions::default().statement_timeout(quick),
            &mut |_| {},
        )
        .expect_err("times out");
    let text = texts(&failed.error);
    assert!(text.contains("`DriftOptions::statement_timeout`"), "{text}");
    assert_no_flag(&text);
    assert_no_flag(&reported(&failed.report.errors[0]));
    let nobody = db.url().replacen(
        "postgres@",
        &format!("{}@", common::unique("cft_no_role")),
        1,
    );
    assert_ne!(
        nobody,
        db.url(),
        "the test server's URL names its user postgres"
    );
    let failed = session()
        .drift(
            &DriftOptions::default().scratch(ScratchServer::Url(nobody)),
            &mut |_| {},
        )
        .expect_err("no such role");
    let text = texts(&failed.error);
    assert!(text.contains("`DriftOptions::scratch`"), "{text}");
    assert_no_flag(&text);

    // status: a ledger locked past the wait allowed.
    let mut holder = postgres::Client::connect(&db.url(), postgres::NoTls).expect("connects");
    let mut tx = holder.transaction().expect("begins");
    tx.batch_execute("LOCK TABLE tb_confiture").expect("locks");
    let refused = session()
        .status_with(&StatusOptions::default().lock_wait(Some(Duration::ZERO)))
        .expect_err("locked");
    assert_no_flag(&texts(&refused));
    tx.rollback().expect("ends");
}

/// A library session's missing migrations directory (or a file in its place) was helped with
/// "point `migrations_dir` in ... (or --migrations-dir)": a flag a program calling
/// `Migrator::new` or `Fleet::new` has not. The help names the directory the program gives
/// (`DirNamedBy::Library`); the command line's says its flag (`DirNamedBy::Command`, which the
/// session keeps into a fleet).
#[test]
fn a_library_sessions_missing_directory_names_the_directory_it_gives() {
    let db = TestDb::new("suggest_nodir");
    let root = TempDir::new("cft_suggest");
    root.write("a_file", "not a directory\n");
    let base = db.environment();
    let target = || vec![Target::url(&base, &db.url(), "db").unwrap()];
    for dir in [root.path().join("gone"), root.path().join("a_file")] {
        let library = [
            Migrator::new(db.environment(), &dir, CheckOptions::default())
                .load()
                .map(drop)
                .expect_err("no directory"),
            Migrator::new(db.environment(), &dir, CheckOptions::default())
                .up(&UpOptions::default(), &mut no_progress)
                .map(drop)
                .expect_err("no directory")
                .error,
            Fleet::new(target(), &dir, CheckOptions::default())
                .up(&UpOptions::default(), &|_| {})
                .map(drop)
                .expect_err("no directory"),
        ];
        for error in library {
            let help = error.help.as_deref().expect("help");
            assert!(
                help.contains("the directory your program gives `Migrator::new`"),
                "{help}"
            );
            assert!(!help.contains("(or --migrations-dir)"), "{help}");
        }
        let command = Migrator::new(db.environment(), &dir, CheckOptions::default())
            .migrations_dir_named_by(confiture::files::DirNamedBy::Command);
        let fleet = Fleet::for_migrator(&command, target());
        for error in [
            command.load().map(drop).expect_err("no directory"),
            fleet
                .up(&UpOptions::default(), &|_| {})
                .map(drop)
                .expect_err("no directory"),
        ] {
            let help = error.help.as_deref().expect("help");
            assert!(help.contains("(or --migrations-dir)"), "{help}");
            assert!(!help.contains("Migrator::new"), "{help}");
        }
    }
}

/// A library session's preview suggests previews, as the command line's `--dry-run` does: a
/// `down` preview refused for going past the applied migrations suggested the real "roll back
/// everything", and an `up` preview refused for an older pending migration the real `up
/// --allow-out-of-order`. The same refusals of a run that is no preview suggest no preview.
#[test]
fn a_library_sessions_preview_suggests_previews() {
    use confiture::migrate::DownOptions;
    let db = TestDb::new("suggest_preview");
    let root = TempDir::new("cft_suggest_preview");
    for (version, table) in [("001", "a"), ("002", "b"), ("003", "c")] {
        root.write(
            &format!("sql/{version}_{table}.up.sql"),
            &format!("CREATE TABLE {table} (id int);\n"),
        );
        root.write(
            &format!("sql/{version}_{table}.down.sql"),
            &format!("DROP TABLE {table};\n"),
        );
    }
    let dir = root.path().join("sql");
    let session = || Migrator::new(db.environment(), &dir, CheckOptions::default());
    session()
        .up(&UpOptions::default(), &mut no_progress)
        .expect("applies");
    // 002 pending again below the applied 003: `up` refuses it without allow_out_of_order.
    db.client()
        .batch_execute("DELETE FROM tb_confiture WHERE version = '002'; DROP TABLE b;")
        .expect("forgets 002");

    for dry_run in [true, false] {
        let down = session()
            .down(
                &DownOptions::default().steps(Some(20)).dry_run(dry_run),
                &mut no_progress,
            )
            .expect_err("20 steps past two applied migrations are refused");
        let up = session()
            .up(&UpOptions::default().dry_run(dry_run), &mut no_progress)
            .expect_err("an older pending migration is refused");
        for (error, command) in [(down.error, "migrate down"), (up.error, "migrate up")] {
            let help = error.help.as_deref().expect("help");
            let suggested: Vec<&str> = commands(help)
                .into_iter()
                .filter(|c| c.starts_with(&format!("cargo confiture {command}")))
                .collect();
            assert!(!suggested.is_empty(), "no `{command}` in: {help}");
            for c in suggested {
                assert_eq!(
                    c.split(' ').filter(|w| *w == "--dry-run").count(),
                    usize::from(dry_run),
                    "`{c}` of a run with dry_run {dry_run}: {help}"
                );
            }
        }
    }
}

/// A timeout's help names only where the run's value came from: the option the program set
/// (`UpOptions::statement_timeout`, `UpOptions::lock_timeout_statement`), never the
/// `migration.*` key of an environment file that an environment made from a URL has not got;
/// the environment's own value, set by the program, is named as its setting
/// (`MigrationSettings::statement_timeout`), never as the option it did not use.
#[test]
fn a_timeouts_help_names_where_the_runs_value_came_from() {
    use std::time::Duration;
    let db = TestDb::new("suggest_timeout_from");
    let root = TempDir::new("cft_suggest_timeout");
    write_pair(&root, "sql", "001", "SELECT pg_sleep(2);\n");
    let dir = root.path().join("sql");
    let texts = |e: &confiture::Error| format!("{} | {:?} | {:?}", e.message, e.details, e.help);
    let quick = Some(Duration::from_millis(300));

    // The option's statement_timeout.
    let failed = Migrator::new(db.environment(), &dir, CheckOptions::default())
        .up(
            &UpOptions::default().statement_timeout(quick),
            &mut no_progress,
        )
        .expect_err("times out");
    let help = failed.error.help.clone().unwrap_or_default();
    assert!(help.contains("`UpOptions::statement_timeout`"), "{help}");
    assert!(!help.contains("migration.statement_timeout"), "{help}");
    assert!(!help.contains(" / "), "{help}");
    assert_eq!(failed.report.errors[0].help.as_deref(), Some(help.as_str()));

    // The environment's, set by the program (no file).
    let mut env = db.environment();
    env.migration.statement_timeout = quick;
    let failed = Migrator::new(env, &dir, CheckOptions::default())
        .up(&UpOptions::default(), &mut no_progress)
        .expect_err("times out");
    let help = failed.error.help.clone().unwrap_or_default();
    assert!(
        help.contains("`MigrationSettings::statement_timeout`"),
        "{help}"
    );
    assert!(!help.contains("UpOptions::statement_timeout"), "{help}");
    assert!(!help.contains("-c FILE"), "{help}");

    // The option's lock_timeout, with another session holding the lock.
    write_pair(&root, "sql", "001", "LOCK TABLE held;\n");
    db.client()
        .batch_execute("CREATE TABLE held (id int)")
        .expect("creates");
    let mut holder = postgres::Client::connect(&db.url(), postgres::NoTls).expect("connects");
    let mut tx = holder.transaction().expect("begins");
    tx.batch_execute("LOCK TABLE held").expect("locks");
    let mut env = db.environment();
    env.migration.lock_retries = 0;
    let failed = Migrator::new(env, &dir, CheckOptions::default())
        .up(
            &UpOptions::default()
                .lock_timeout_statement(quick)
                .allow_non_empty(true),
            &mut no_progress,
        )
        .expect_err("lock times out");
    let text = texts(&failed.error);
    assert!(
        text.contains("`UpOptions::lock_timeout_statement`"),
        "{text}"
    );
    assert!(!text.contains("migration.lock_timeout"), "{text}");
    tx.rollback().expect("ends");
}

/// A help naming several flags together (`--target 0 --yes`, `--dry-run --yes`) names them
/// as a library caller writes them: each option's setter with its value, joined by "with";
/// `DownOptions::steps(Some(0))`'s refusal read "use `DownOptions::target` = 0
/// `DownOptions::yes`".
#[test]
fn a_library_help_naming_several_flags_names_each_setter() {
    use confiture::migrate::DownOptions;
    let db = TestDb::new("suggest_flag_group");
    let root = TempDir::new("cft_suggest_group");
    write_pair(&root, "sql", "001", "CREATE TABLE t (id int);\n");
    let dir = root.path().join("sql");
    let refused = Migrator::new(db.environment(), &dir, CheckOptions::default())
        .down(&DownOptions::default().steps(Some(0)), &mut no_progress)
        .expect_err("steps 0");
    let help = refused.error.help.clone().unwrap_or_default();
    assert!(
        help.contains("use `DownOptions::target(Some(0))` with `DownOptions::yes(true)`"),
        "{help}"
    );
    assert!(!help.contains("= 0 `"), "{help}");
    assert!(!help.contains("--"), "{help}");
}

/// A library session given a relative migrations directory that is not there is told that
/// the path is read from the current directory, which the message names with the absolute
/// path; its help speaks of the directory the program gives `Migrator::new`, never of
/// Cargo.toml's `[package.metadata.confiture]`, which did not name it. A session whose
/// directory is its workspace's (`Migrator::from_url`: Cargo.toml's `migrations_dir`) keeps
/// the Cargo.toml help.
#[test]
fn a_library_sessions_relative_directory_is_named_from_the_current_directory() {
    let db = TestDb::new("suggest_relative_dir");
    let relative = std::path::PathBuf::from(common::unique("cft_no_dir")).join("migrations");
    let cwd = std::env::current_dir().expect("a current directory");
    let error = Migrator::new(db.environment(), &relative, CheckOptions::default())
        .load()
        .map(drop)
        .expect_err("no directory");
    let shown = cwd.join(&relative).display().to_string();
    assert!(error.message.contains("current directory"), "{error}");
    assert!(error.message.contains(&shown), "{error}");
    let help = error.help.as_deref().unwrap_or_default();
    assert!(!help.contains("Cargo.toml"), "{help}");
    assert!(!help.contains("metadata.confiture"), "{help}");
    assert!(help.contains("Migrator::new"), "{help}");
    // An absolute path needs no current directory.
    let error = Migrator::new(
        db.environment(),
        cwd.join(&relative),
        CheckOptions::default(),
    )
    .load()
    .map(drop)
    .expect_err("no directory");
    assert!(!error.message.contains("current directory"), "{error}");
    assert!(!error.help.unwrap_or_default().contains("Cargo.toml"));
}
