//! A variable expanded into `database_url`'s user or password goes into the URL as it is, so
//! a `%` in its value is read as a percent-encoding (`ab%41cd` is `abAcd`): the server's
//! refusal (28P01) blamed the password alone ("check the user and password in $PW"). The
//! help says what the `%` did, with the advice a value that breaks the URL gets (hcl D).

use confiture::exit;
use confiture_tests::cluster::Cluster;
use confiture_tests::{Project, Run};

/// The advice of `config::file` for a variable's value in a URL: one owner.
const ADVICE: &str = "a variable's value goes into the URL as it is: percent-encode the \
                      characters a URL reserves in it";

#[test]
fn a_percent_in_a_password_variable_is_named_when_the_server_refuses_it() {
    let cluster = Cluster::asking_passwords(
        "CREATE ROLE cft_pct LOGIN PASSWORD 'ab%41cd'; \
         CREATE ROLE \"cft%41u\" LOGIN PASSWORD 'secret'",
    );
    let project = Project::with_table_a();
    let port = cluster.port();
    project.write(
        "db/environments/pw2.yaml",
        format!(
            "database_url: postgresql://cft_pct:${{PW}}@127.0.0.1:{port}/postgres?sslmode=disable\n"
        ),
    );
    project.write(
        "db/environments/user2.yaml",
        format!(
            "database_url: postgresql://${{DBUSER}}:secret@127.0.0.1:{port}/postgres?sslmode=disable\n"
        ),
    );
    let status = |env: &str, var: &str, value: &str| {
        Run::of(
            project
                .cli()
                .env(var, value)
                .args(["migrate", "status", "--env", env]),
        )
    };

    // `%41` read as `A`: refused, and the help says why, naming the variable.
    let run = status("pw2", "PW", "ab%41cd");
    run.code(exit::CONNECTION)
        .stderr_has("authentication failed for cft_pct@127.0.0.1")
        .stderr_has("$PW holds a `%`, read as a percent-encoding")
        .stderr_has(ADVICE)
        .stderr_has("(`password: ${PW}`)")
        .stderr_lacks("ab%41cd");
    // The same in the user name.
    let run = status("user2", "DBUSER", "cft%41u");
    run.code(exit::CONNECTION)
        .stderr_has("$DBUSER holds a `%`, read as a percent-encoding")
        .stderr_has(ADVICE);

    // Percent-encoded as the advice says, it connects.
    status("pw2", "PW", "ab%2541cd").code(exit::NOT_INITIALISED);
    // A wrong password without a `%` is only a wrong password.
    let run = status("pw2", "PW", "abAcd");
    run.code(exit::CONNECTION)
        .stderr_has("authentication failed")
        .stderr_lacks("percent");
}

/// A `%` written in a URL itself — `DATABASE_URL` of a `.env`, a line of a fleet's target
/// list (`--targets FILE`) — is read as a percent-encoding too: a refused password's help said
/// "check the user and password in DATABASE_URL in .env" (no line, nothing of the `%`), and a
/// `%` that is no percent-encoding was "invalid percent-encoding in the password" with the
/// generic URL help (a list's line: the list's help alone). Each now names the file and line,
/// never the password, and says to write the `%` as `%25`, as the password variable's help
/// does (`PercentInCredentials::help`, one owner); written so, it connects.
#[test]
fn a_percent_written_in_a_dotenv_or_a_target_list_url_is_named_at_its_line() {
    let cluster = Cluster::asking_passwords(
        "CREATE ROLE cft_pct LOGIN PASSWORD 'ab%41cd'; \
         CREATE ROLE cft_pz LOGIN PASSWORD 'ab%zz'",
    );
    let project = Project::new();
    project.migration("001_a", "CREATE TABLE a (id int);\n", "DROP TABLE a;\n");
    let port = cluster.port();
    let url = |credentials: &str| {
        format!("postgresql://{credentials}@127.0.0.1:{port}/postgres?sslmode=disable")
    };
    let dotenv = |credentials: &str| {
        project.write(
            ".env",
            format!("# the database\nDATABASE_URL={}\n", url(credentials)),
        );
        Run::of(project.cli().args(["migrate", "status"]))
    };
    // A fleet's list, with the environment it runs in (its server, no password).
    project.write(
        "db/environments/fleet.yaml",
        format!("database_url: {}\n", url("cft_pct")),
    );
    let listed = |credentials: &str| {
        project.write("t.txt", format!("# the database\n{}\n", url(credentials)));
        Run::of(
            project
                .cli()
                .args(["migrate", "status", "-e", "fleet", "--targets", "t.txt"]),
        )
    };
    let read_as_encoding = "holds a `%`, read as a percent-encoding (`%41` is `A`): \
                            percent-encode a `%` that is part of the password as %25";
    let no_encoding = "holds a `%` that is no percent-encoding (`%` and two hex digits): \
                       percent-encode a `%` that is part of the password as %25";

    // `%41` read as `A`: the server refuses the password.
    dotenv("cft_pct:ab%41cd")
        .code(exit::CONNECTION)
        .stderr_has("check the user and password in DATABASE_URL in .env, line 2")
        .stderr_has(read_as_encoding)
        .stderr_lacks("ab%41cd");
    listed("cft_pct:ab%41cd")
        .code(exit::CONNECTION)
        .stderr_has("check the user and password in t.txt:2")
        .stderr_has(read_as_encoding)
        .stderr_lacks("ab%41cd");
    // `%zz` is no percent-encoding: the URL is refused, at its line.
    dotenv("cft_pz:ab%zz")
        .code(exit::INVALID)
        .stderr_has("invalid database URL in DATABASE_URL in .env, line 2")
        .stderr_has(no_encoding)
        .stderr_lacks("ab%zz");
    listed("cft_pz:ab%zz")
        .code(exit::INVALID)
        .stderr_has("invalid database URL in t.txt:2")
        .stderr_has(no_encoding)
        .stderr_lacks("ab%zz");

    // Written as the help says, each connects (no ledger yet: exit 2).
    dotenv("cft_pct:ab%2541cd").code(exit::NOT_INITIALISED);
    dotenv("cft_pz:ab%25zz").code(exit::NOT_INITIALISED);
    listed("cft_pct:ab%2541cd").stderr_lacks("failed");
    listed("cft_pz:ab%25zz").stderr_lacks("failed");
    // A wrong password without a `%` is only a wrong password.
    dotenv("cft_pct:abAcd")
        .code(exit::CONNECTION)
        .stderr_lacks("percent");
}
