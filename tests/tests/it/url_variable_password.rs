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
