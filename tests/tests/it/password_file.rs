//! A server that asks for a password when none was given: the error says so, and where a
//! password may come from (the URL, `PGPASSWORD`, the password file); a password file left
//! unread because its group or others may read it is named, with libpq's reason and the
//! `chmod 0600` that makes it read (exit 3). It was "invalid configuration: password missing",
//! with a help about the URL and no word of the file.

use std::path::Path;

use confiture::exit;
use confiture_tests::cluster::Cluster;
use confiture_tests::{Project, Run, TestDb};

/// How many times a run says a password file was not read for its permissions.
fn said(run: &Run) -> usize {
    run.stderr.matches("has group or world access").count()
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_missing_password_says_where_one_may_come_from() {
    let cluster = Cluster::asking_passwords("CREATE ROLE cft_pw LOGIN PASSWORD 'p@ss:w/rd'");
    let project = Project::with_table_a();
    let url = format!(
        "postgresql://cft_pw@127.0.0.1:{}/postgres?sslmode=disable",
        cluster.port()
    );
    let passfile = project.path("pgpass");
    std::fs::write(
        &passfile,
        format!("127.0.0.1:{}:postgres:cft_pw:p@ss\\:w/rd\n", cluster.port()),
    )
    .expect("write the password file");
    let status = |passfile: &Path| {
        Run::of(project.cli().env("PGPASSFILE", passfile).args([
            "migrate",
            "status",
            "--database-url",
            &url,
        ]))
    };

    chmod(&passfile, 0o600);
    status(&passfile).code(exit::NOT_INITIALISED);

    // Others may read it: not read, as libpq, and the error says why and what to do.
    chmod(&passfile, 0o644);
    let run = status(&passfile);
    run.code(exit::CONNECTION)
        .stderr_has("the server asks for a password for cft_pw@127.0.0.1:")
        .stderr_has(&format!(
            "password file {} has group or world access; permissions should be u=rw (0600) or \
             less: it was not read",
            passfile.display()
        ))
        .stderr_has(&format!("help: `chmod 0600 {}`", passfile.display()))
        .stderr_has("PGPASSWORD")
        .stderr_lacks("invalid configuration")
        .stderr_lacks("p@ss");
    // Said once, by the error that it explains: not also by a warning before connecting.
    assert_eq!(said(&run), 1, "{}", run.dump());

    // Not a file at all (PGPASSFILE naming a directory): libpq's other reason, and no
    // `chmod` (it was told the directory "has group or world access" and to `chmod 0600` it).
    let directory = project.path("pgpass.d");
    std::fs::create_dir(&directory).expect("create a directory");
    chmod(&directory, 0o700);
    let run = status(&directory);
    run.code(exit::CONNECTION)
        .stderr_has(&format!(
            "password file {} is not a plain file: it was not read",
            directory.display()
        ))
        .stderr_has(&format!(
            "help: point PGPASSFILE (or the connection's `passfile`) at a file, not at {}",
            directory.display()
        ))
        .stderr_lacks("group or world access")
        .stderr_lacks("chmod");

    // No line for this database, and no file at all: where a password may come from.
    chmod(&passfile, 0o600);
    std::fs::write(&passfile, "elsewhere:5432:*:*:nope\n").expect("rewrite");
    let run = status(&passfile);
    run.code(exit::CONNECTION)
        .stderr_has("the server asks for a password for cft_pw@127.0.0.1:")
        .stderr_has(&format!(
            "password file {} has no line for 127.0.0.1:{}:postgres:cft_pw",
            passfile.display(),
            cluster.port()
        ))
        .stderr_has("help: give the password in --database-url")
        .stderr_has("in PGPASSWORD, or on a `host:port:database:user:password` line")
        .stderr_lacks("invalid configuration")
        .stderr_lacks("nope");
    let missing = project.path("no-such-pgpass");
    status(&missing)
        .code(exit::CONNECTION)
        .stderr_has(&format!("there is no password file {}", missing.display()))
        .stderr_has("help: give the password in --database-url");
}

/// A password file left unread for its permissions is said exactly once whatever the outcome:
/// by the error when the server then asks for a password (above), by a warning when the
/// connection succeeds without it or fails for another reason (libpq warns then too). It was
/// said twice when the error said it: a warning before connecting, then the error's detail.
#[test]
fn an_unread_password_file_is_said_once_whatever_the_outcome() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let passfile = project.path("pgpass");
    std::fs::write(&passfile, "*:*:*:*:file-secret\n").expect("write the password file");
    chmod(&passfile, 0o644);
    let db = TestDb::new("pw_once");
    let status = |url: &str| {
        Run::of(project.cli().env("PGPASSFILE", &passfile).args([
            "migrate",
            "status",
            "--database-url",
            url,
        ]))
    };
    // Connected without it (the test server needs no password given).
    let run = status(&db.url());
    run.code(exit::NOT_INITIALISED).stderr_lacks("file-secret");
    assert_eq!(said(&run), 1, "{}", run.dump());
    // No server there: the file has nothing to do with the failure, the warning still says it.
    let run = status("postgresql://app@127.0.0.1:1/app");
    run.code(exit::CONNECTION).stderr_lacks("file-secret");
    assert_eq!(said(&run), 1, "{}", run.dump());
}

/// A password file that is not a plain file (PGPASSFILE naming a directory, a FIFO) is not
/// read, as libpq does, and the warning says so: it said the file "has group or world access"
/// and that permissions should be 0600, even of a directory only its owner may enter.
#[test]
fn a_password_file_that_is_no_file_is_said_to_be_none() {
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let directory = project.path("pgpass.d");
    std::fs::create_dir(&directory).expect("create a directory");
    chmod(&directory, 0o700);
    let db = TestDb::new("pw_nofile");
    let run = Run::of(project.cli().env("PGPASSFILE", &directory).args([
        "migrate",
        "status",
        "--database-url",
        &db.url(),
    ]));
    run.code(exit::NOT_INITIALISED)
        .stderr_has(&format!(
            "warning: password file {} is not a plain file: it is not read",
            directory.display()
        ))
        .stderr_lacks("group or world access");
}

/// A wrong password is blamed on where it came from: the password file's line (as libpq's
/// "password retrieved from file"), or `PGPASSWORD`; never the URL or environment file that
/// gave none, and never the password itself. The help said "check the user and password in
/// --database-url" of a URL without a password, and named an environment file's
/// `database.user` line when `PGPASSWORD` gave the password.
#[test]
fn a_wrong_password_is_blamed_on_where_it_came_from() {
    let cluster = Cluster::asking_passwords("CREATE ROLE cft_pw LOGIN PASSWORD 'right-one'");
    let project = Project::with_table_a();
    let port = cluster.port();
    let url = format!("postgresql://cft_pw@127.0.0.1:{port}/postgres?sslmode=disable");
    project.write(
        "db/environments/e1.yaml",
        format!(
            "database:\n  host: 127.0.0.1\n  port: {port}\n  database: postgres\n  user: cft_pw\n  \
             sslmode: disable\n"
        ),
    );
    let passfile = project.path("pgpass");
    let run = |passfile: &Path, password: Option<&str>, target: &[&str]| {
        let mut cli = project.cli();
        cli.env("PGPASSFILE", passfile).env_remove("PGPASSWORD");
        if let Some(password) = password {
            cli.env("PGPASSWORD", password);
        }
        Run::of(cli.args(["migrate", "status"]).args(target))
    };
    let by_url: &[&str] = &["--database-url", &url];
    let by_file: &[&str] = &["--env", "e1"];

    // The password file's third line (after a comment and another host's line) is wrong.
    std::fs::write(
        &passfile,
        format!("# passwords\nelsewhere:5432:*:*:other-one\n127.0.0.1:{port}:*:cft_pw:old-one\n"),
    )
    .expect("write the password file");
    chmod(&passfile, 0o600);
    for target in [by_url, by_file] {
        let run = run(&passfile, None, target);
        run.code(exit::CONNECTION)
            .stderr_has("authentication failed for cft_pw@127.0.0.1:")
            .stderr_has(&format!(
                "the password on line 3 of password file {}",
                passfile.display()
            ))
            .stderr_lacks("user and password in")
            .stderr_lacks("PGPASSWORD")
            .stderr_lacks("old-one")
            .stderr_lacks("other-one");
    }
    // An empty password on the line: the same line named, and said to be empty.
    std::fs::write(&passfile, format!("127.0.0.1:{port}:*:cft_pw:\n")).expect("rewrite");
    for target in [by_url, by_file] {
        let run = run(&passfile, None, target);
        run.code(exit::CONNECTION)
            .stderr_has(&format!(
                "the password on line 1 of password file {}",
                passfile.display()
            ))
            .stderr_has("is empty")
            .stderr_lacks("user and password in");
    }
    // PGPASSWORD wins over the file, and is the one blamed.
    for target in [by_url, by_file] {
        let run = run(&passfile, Some("env-one"), target);
        run.code(exit::CONNECTION)
            .stderr_has("authentication failed for cft_pw@127.0.0.1:")
            .stderr_has("the password in PGPASSWORD")
            .stderr_lacks("user and password in")
            .stderr_lacks("password file")
            .stderr_lacks("env-one");
    }
    // The user is still named where it is written.
    run(&passfile, Some("env-one"), by_file)
        .code(exit::CONNECTION)
        .stderr_has("line 5 (database.user)");

    // A password the URL or file writes is still blamed on them.
    let written = format!("postgresql://cft_pw:url-one@127.0.0.1:{port}/postgres?sslmode=disable");
    run(&passfile, Some("env-one"), &["--database-url", &written])
        .code(exit::CONNECTION)
        .stderr_has("check the user and password in --database-url")
        .stderr_lacks("PGPASSWORD")
        .stderr_lacks("url-one");
}

/// libpq's `passfile` connection parameter — in a URL's query, a conninfo, an environment
/// file's `database_url` — names the password file, beating `PGPASSFILE`; a password given
/// (written, or `PGPASSWORD`) beats both, as in libpq. A wrong password is blamed on that
/// file's line, as `PGPASSFILE`'s is; one its group or others may read is not read. It was
/// refused as "unsupported libpq parameter" (exit 5).
#[test]
fn the_passfile_parameter_beats_pgpassfile_and_a_password_beats_both() {
    let cluster = Cluster::asking_passwords("CREATE ROLE hnr_pw LOGIN PASSWORD 'right-one'");
    let project = Project::with_table_a();
    let port = cluster.port();
    let (right, wrong, open) = (
        project.path("pgpass-right"),
        project.path("pgpass-wrong"),
        project.path("pgpass-open"),
    );
    for (path, password, mode) in [
        (&right, "right-one", 0o600),
        (&wrong, "old-one", 0o600),
        (&open, "right-one", 0o644),
    ] {
        std::fs::write(
            path,
            format!("# hnr\n127.0.0.1:{port}:*:hnr_pw:{password}\n"),
        )
        .expect("write a password file");
        chmod(path, mode);
    }
    let url = |userinfo: &str, passfile: &Path| {
        format!(
            "postgresql://{userinfo}@127.0.0.1:{port}/postgres?sslmode=disable&passfile={}",
            passfile.display()
        )
    };
    let conninfo = |passfile: &Path| {
        format!(
            "host=127.0.0.1 port={port} dbname=postgres user=hnr_pw sslmode=disable passfile='{}'",
            passfile.display()
        )
    };
    let status = |pgpassfile: &Path, pgpassword: Option<&str>, target: &[&str]| {
        let mut cli = project.cli();
        cli.env("PGPASSFILE", pgpassfile);
        if let Some(password) = pgpassword {
            cli.env("PGPASSWORD", password);
        }
        Run::of(cli.args(["migrate", "status"]).args(target))
    };

    // The parameter's file, not PGPASSFILE's: connected (no ledger yet).
    for target in [url("hnr_pw", &right), conninfo(&right)] {
        status(&wrong, None, &["--database-url", &target])
            .code(exit::NOT_INITIALISED)
            .stderr_lacks("right-one");
    }
    // Its wrong line is blamed, as PGPASSFILE's would be.
    for target in [url("hnr_pw", &wrong), conninfo(&wrong)] {
        status(&right, None, &["--database-url", &target])
            .code(exit::CONNECTION)
            .stderr_has("authentication failed for hnr_pw@127.0.0.1:")
            .stderr_has(&format!(
                "the password on line 2 of password file {}",
                wrong.display()
            ))
            .stderr_lacks("pgpass-right")
            .stderr_lacks("old-one");
    }
    // A password given beats both files: written in the URL, or PGPASSWORD.
    status(
        &wrong,
        None,
        &["--database-url", &url("hnr_pw:right-one", &wrong)],
    )
    .code(exit::NOT_INITIALISED);
    status(
        &wrong,
        Some("right-one"),
        &["--database-url", &url("hnr_pw", &wrong)],
    )
    .code(exit::NOT_INITIALISED);
    // One that others may read is not read, and named as PGPASSFILE's is.
    status(&right, None, &["--database-url", &url("hnr_pw", &open)])
        .code(exit::CONNECTION)
        .stderr_has(&format!(
            "password file {} has group or world access",
            open.display()
        ))
        .stderr_has(&format!("help: `chmod 0600 {}`", open.display()));

    // In an environment file's `database_url`, relative to the file's directory as its
    // certificate files are: read from the project's root all the same.
    std::fs::copy(&right, project.path("db/environments/pgpass")).expect("copy");
    chmod(&project.path("db/environments/pgpass"), 0o600);
    project.write(
        "db/environments/e1.yaml",
        format!(
            "database_url: postgresql://hnr_pw@127.0.0.1:{port}/postgres?sslmode=disable&passfile=pgpass\n"
        ),
    );
    status(&wrong, None, &["--env", "e1"]).code(exit::NOT_INITIALISED);
    project.write(
        "db/environments/e1.yaml",
        format!(
            "database_url: postgresql://hnr_pw@127.0.0.1:{port}/postgres?sslmode=disable&passfile=pgpass-none\n"
        ),
    );
    status(&right, None, &["--env", "e1"])
        .code(exit::CONNECTION)
        .stderr_has(&format!(
            "there is no password file {}",
            project.path("db/environments/pgpass-none").display()
        ));
}
