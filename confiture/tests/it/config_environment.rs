//! Environment files: confiture's format, `${VAR}` expansion, errors that name the file (and
//! the line and column for malformed YAML), and descriptions without the password.

use crate::common;

use std::path::PathBuf;
use std::time::Duration;

use common::TempDir;
use confiture::config::{Environment, Origin, SslMode, DEFAULT_APPLICATION_NAME};
use confiture::exit;

fn vars(name: &str) -> Option<String> {
    match name {
        "DB_PASSWORD" => Some("hunter2-Secret".to_string()),
        "DB_HOST" => Some("db.internal".to_string()),
        "EMPTY" => Some(String::new()),
        "STAGING_DATABASE_URL" => Some(String::new()),
        _ => None,
    }
}

fn read(text: &str) -> (TempDir, PathBuf, confiture::Result<Environment>) {
    let dir = TempDir::new("cft_envfile");
    let path = dir.write("db/environments/staging.yaml", text);
    let env = Environment::from_file(&path, &vars);
    (dir, path, env)
}

fn read_ok(text: &str) -> Environment {
    let (_dir, _path, env) = read(text);
    env.unwrap_or_else(|e| panic!("{e} {:?}", e.help))
}

fn read_err(text: &str) -> (PathBuf, confiture::Error) {
    let (_dir, path, env) = read(text);
    let err = env.expect_err("the file is invalid");
    assert_eq!(err.exit_code(), exit::INVALID, "{err}");
    let all = format!("{err} {:?} {:?}", err.help, err.details);
    assert!(!all.contains("hunter2"), "password leaked: {all}");
    (path, err)
}

/// (A non-null `ssh_tunnel:` changes which server confiture reaches: it is refused, see
/// `config::file`'s tests; `null` is confiture's "connect directly".)
#[test]
fn reads_every_setting_and_ignores_confiture_s_other_keys() {
    let env = read_ok(
        "name: staging-from-python\n\
         database_url: postgresql://app:${DB_PASSWORD}@${DB_HOST}:6432/app?sslmode=verify-full\n\
         application_name: billing-migrations\n\
         include_dirs: [db/schema]\n\
         exclude_dirs: []\n\
         build: {sort_mode: alphabetical, note: \"${NOT_EXPANDED_HERE}\"}\n\
         seed: {dir: db/seeds}\n\
         ssh_tunnel: null\n\
         migration:\n\
         \x20 tracking_table: ops.tb_confiture\n\
         \x20 lock_timeout: 2s\n\
         \x20 statement_timeout: 10min\n\
         \x20 connect_timeout: 1500ms\n\
         \x20 lock_retries: 5\n\
         \x20 strict_mode: true\n",
    );
    assert_eq!(
        env.name, "staging",
        "the file's stem, as --env would name it"
    );
    assert_eq!(env.origin, Origin::File);
    assert_eq!(env.connection.host, "db.internal");
    assert_eq!(env.connection.port, 6432);
    assert_eq!(env.connection.password.as_deref(), Some("hunter2-Secret"));
    assert_eq!(env.connection.sslmode, SslMode::VerifyFull);
    assert_eq!(env.application_name, "billing-migrations");
    assert_eq!(env.migration.tracking_table.to_string(), "ops.tb_confiture");
    assert_eq!(
        env.migration.tracking_table.quoted(),
        "\"ops\".\"tb_confiture\""
    );
    assert_eq!(env.migration.lock_timeout, Duration::from_secs(2));
    assert_eq!(
        env.migration.statement_timeout,
        Some(Duration::from_secs(600))
    );
    assert_eq!(env.migration.connect_timeout, Duration::from_millis(1500));
    assert_eq!(env.migration.lock_retries, 5);
}

#[test]
fn defaults_when_the_file_only_names_the_database() {
    let env = read_ok("database_url: postgresql://localhost/app\n");
    assert_eq!(env.application_name, DEFAULT_APPLICATION_NAME);
    assert_eq!(env.migration.tracking_table.to_string(), "tb_confiture");
    assert_eq!(env.migration.lock_timeout, Duration::from_secs(5));
    assert_eq!(env.migration.statement_timeout, None);
    assert_eq!(env.migration.connect_timeout, Duration::from_secs(10));
    assert_eq!(env.migration.lock_retries, 3);
    assert_eq!(env.connection.sslmode, SslMode::Prefer);
}

/// A `migration.*_timeout` without a unit is refused, naming the file, the line and the key:
/// `connect_timeout: 10` was 10 ms while `?connect_timeout=10` in the URL is 10 s (libpq).
/// `0` needs none; the URL's own `connect_timeout` stays whole seconds.
#[test]
fn plain_numbers_need_a_unit() {
    for key in ["lock_timeout", "statement_timeout", "connect_timeout"] {
        for value in ["10", "\"250\"", "${SECS:-30}"] {
            let (path, err) = read_err(&format!(
                "database_url: postgresql:///app\nmigration:\n  {key}: {value}\n"
            ));
            let shown = value.replace("${SECS:-", "").replace(['}', '"'], "");
            assert!(
                err.message.contains(&format!(
                    "{}, line 3: `migration.{key}` \"{shown}\" has no unit",
                    confiture::display::path(&path)
                )),
                "{key} {value}: {err}"
            );
            // The help fits the key and the value written, not a fixed example.
            let help = err.help.as_deref().unwrap_or_default();
            assert!(
                help.contains(&format!(
                    "durations need a unit: `{key}: {shown}s` (or `{shown}ms`"
                )),
                "{help}"
            );
        }
    }
    let env = read_ok(
        "database_url: postgresql:///app?connect_timeout=10\nmigration:\n  lock_timeout: 0\n  statement_timeout: \"0\"\n",
    );
    assert_eq!(env.migration.lock_timeout, Duration::ZERO);
    assert_eq!(env.migration.statement_timeout, Some(Duration::ZERO));
    assert_eq!(env.migration.connect_timeout, Duration::from_secs(10));
}

/// A value that is only variables set to the empty string — a CI secret not defined for this
/// branch or environment expands to "" — names the variable, as an unset one does, and the help
/// says to set it: never "`database_url` is empty" with help to write the URL (and its
/// password) into the committed file, and never a default (`localhost`, the user's database)
/// silently put in place of the empty host or name (hostile run 5, item 18).
#[test]
fn a_value_from_a_variable_set_to_the_empty_string_names_it() {
    for (text, line, key, var) in [
        (
            "name: staging\ndatabase_url: ${STAGING_DATABASE_URL}\n",
            2,
            "database_url",
            "STAGING_DATABASE_URL",
        ),
        ("database_url: \" ${EMPTY} \"\n", 1, "database_url", "EMPTY"),
        (
            "database:\n  host: ${EMPTY}\n  database: app\n",
            2,
            "database.host",
            "EMPTY",
        ),
        (
            "database:\n  host: db\n  database: ${EMPTY}\n",
            3,
            "database.database",
            "EMPTY",
        ),
        (
            "database:\n  host: db\n  user: ${EMPTY}\n  database: app\n",
            3,
            "database.user",
            "EMPTY",
        ),
        (
            "database_url: postgresql:///app\napplication_name: ${EMPTY}\n",
            2,
            "application_name",
            "EMPTY",
        ),
        (
            "database_url: postgresql:///app\nfleet:\n  targets_query: ${EMPTY}\n",
            3,
            "fleet.targets_query",
            "EMPTY",
        ),
    ] {
        let (path, err) = read_err(text);
        assert!(
            err.message.contains(&format!(
                "{}, line {line}: `{key}` is empty: ${{{var}}} is set to an empty string",
                confiture::display::path(&path)
            )),
            "{text}: {err}"
        );
        let help = err.help.as_deref().unwrap_or_default();
        assert!(
            help.starts_with(&format!(
                "set {var} (in CI: define the secret for this environment)"
            )),
            "{text}: {help}"
        );
        assert!(!help.contains("postgresql://"), "{text}: {help}");
    }
    // A default says what an empty variable means; an empty value written as such is kept.
    let env = read_ok("database_url: ${EMPTY:-postgresql:///app}\napplication_name: \"\"\n");
    assert_eq!(env.connection.dbname, "app");
    let env = read_ok("database:\n  host: db\n  database: app\n  password: \"\"\n");
    assert_eq!(env.connection.password, None);
}

#[test]
fn the_url_s_own_parameters_win_over_the_file_s() {
    let env = read_ok(
        "database_url: postgresql:///app?application_name=from-url&connect_timeout=3\n\
         application_name: from-file\nmigration:\n  connect_timeout: 20s\n",
    );
    assert_eq!(env.application_name, "from-url");
    assert_eq!(env.migration.connect_timeout, Duration::from_secs(3));
}

#[test]
fn reads_the_legacy_database_block() {
    let env = read_ok(
        "database:\n  host: ${DB_HOST}\n  port: 5433\n  database: app\n  user: app\n  password: ${DB_PASSWORD}\n",
    );
    assert_eq!(env.connection.to_string(), "app@db.internal:5433/app");
    assert_eq!(env.connection.password.as_deref(), Some("hunter2-Secret"));
    let env = read_ok("database: {host: localhost, database: app, user: app, password: \"\"}\n");
    assert_eq!(
        env.connection.password, None,
        "an empty password is no password"
    );
    assert_eq!(env.connection.port, 5432);
}

#[test]
fn database_url_wins_over_the_legacy_block() {
    let env = read_ok("database_url: postgresql://h1/a\ndatabase: {host: h2, database: b}\n");
    assert_eq!(env.connection.host, "h1");
}

#[test]
fn accepts_libpq_conninfo_and_unix_sockets() {
    let env = read_ok(
        "database_url: \"host=/var/run/postgresql dbname=app user=app password='${DB_PASSWORD}'\"\n",
    );
    assert!(env.connection.is_unix_socket());
    assert_eq!(env.connection.password.as_deref(), Some("hunter2-Secret"));
    assert_eq!(
        env.connection.to_string(),
        "app@/var/run/postgresql:5432/app"
    );
}

/// A `$` not followed by `{` is itself (`$$` is refused in `database_url`, which confiture
/// (Python) reads without expanding anything: see `config::file`'s tests).
#[test]
fn expansion_defaults_and_literal_dollars() {
    let env =
        read_ok("database_url: postgresql://app:p$ss@${UNSET_HOST:-fallback}:5432/${EMPTY:-app}\n");
    assert_eq!(env.connection.password.as_deref(), Some("p$ss"));
    assert_eq!(env.connection.host, "fallback");
    assert_eq!(env.connection.dbname, "app");
}

#[test]
fn an_unset_variable_names_the_variable_and_the_file() {
    let (path, err) = read_err("database_url: postgresql://app:${PROD_DB_PASSWORD}@h/app\n");
    assert!(
        err.message.contains(&confiture::display::path(&path)),
        "{err}"
    );
    assert!(
        err.message
            .contains("`database_url` uses ${PROD_DB_PASSWORD}, which is not set"),
        "{err}"
    );
    assert!(
        err.help
            .as_deref()
            .unwrap()
            .contains("${PROD_DB_PASSWORD:-value}"),
        "{err:?}"
    );
    let (_, err) =
        read_err("database_url: postgresql:///app\nmigration:\n  tracking_table: ${SCHEMA}.tb\n");
    assert!(
        err.message
            .contains("`migration.tracking_table` uses ${SCHEMA}"),
        "{err}"
    );
}

#[test]
fn a_malformed_expansion_is_an_error() {
    let (_, err) = read_err("database_url: postgresql://h/${DB\n");
    assert!(err.message.contains("not closed"), "{err}");
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let (path, err) =
        read_err("database_url: postgresql:///app\nmigration:\n  tracking_table: [unclosed\n");
    assert!(
        err.message
            .starts_with("malformed YAML in environment file"),
        "{err}"
    );
    assert!(
        err.message.contains(&confiture::display::path(&path)),
        "{err}"
    );
    assert!(
        err.message.contains(" at line 4, column 1") || err.message.contains(" at line 3"),
        "{err}"
    );
    let (_, err) = read_err("database_url: a\n  bad indentation: here\n");
    assert!(err.message.contains("at line 2, column"), "{err}");
}

#[test]
fn a_misspelt_migration_key_suggests_the_right_one() {
    let (path, err) =
        read_err("database_url: postgresql:///app\nmigration:\n  tracking_tabel: x\n");
    assert!(
        err.message.contains(&confiture::display::path(&path)),
        "{err}"
    );
    assert!(
        err.message
            .contains("`migration.tracking_tabel` is not a setting"),
        "{err}"
    );
    assert_eq!(
        err.help.as_deref(),
        Some("did you mean `migration.tracking_table`?")
    );
    let (_, err) = read_err("database_url: postgresql:///app\nmigration:\n  lock-timeout: 5s\n");
    assert_eq!(
        err.help.as_deref(),
        Some("did you mean `migration.lock_timeout`?")
    );
    let (_, err) = read_err("database: {hots: x, database: app}\n");
    assert_eq!(err.help.as_deref(), Some("did you mean `database.host`?"));
}

#[test]
fn invalid_values_name_the_key() {
    let (_, err) =
        read_err("database_url: postgresql:///app\nmigration:\n  tracking_table: \"a;drop\"\n");
    assert!(
        err.message
            .contains("`migration.tracking_table` is invalid"),
        "{err}"
    );
    assert!(err.help.is_some());
    let (_, err) =
        read_err("database_url: postgresql:///app\nmigration:\n  lock_timeout: 5 seconds\n");
    assert!(
        err.message
            .contains("`migration.lock_timeout` \"5 seconds\" is not a duration"),
        "{err}"
    );
    let (_, err) = read_err("database_url: postgresql:///app\nmigration:\n  lock_retries: many\n");
    assert!(err.message.contains("`migration.lock_retries`"), "{err}");
    let (_, err) = read_err("database_url: postgresql:///app\nmigration: 5\n");
    assert!(
        err.message.contains("`migration` must be a mapping"),
        "{err}"
    );
}

#[test]
fn timeouts_beyond_postgres_limit_name_the_file_the_key_and_the_limit() {
    // `0` is offered only where it lifts the limit: `wait_for_server: 0` fails at once.
    for (key, zero_lifts_the_limit) in [
        ("lock_timeout", true),
        ("statement_timeout", true),
        ("connect_timeout", true),
        ("wait_for_server", false),
    ] {
        let (_, err) = read_err(&format!(
            "database_url: postgresql:///app\nmigration:\n  {key}: 700h\n"
        ));
        let help = err.help.as_deref().unwrap();
        assert!(help.contains(&format!("`{key}: 596h`")), "{key}: {help}");
        let zero = format!("`{key}: 0` for no limit");
        assert_eq!(help.contains(&zero), zero_lifts_the_limit, "{key}: {help}");
        assert!(
            !help.contains(": 0`") || zero_lifts_the_limit,
            "{key}: {help}"
        );
    }
    for key in ["lock_timeout", "statement_timeout", "connect_timeout"] {
        for value in ["600h", "3000h", "2147483648ms", "${BIG:-35792min}"] {
            let (path, err) = read_err(&format!(
                "database_url: postgresql:///app\nmigration:\n  {key}: \"{value}\"\n"
            ));
            let shown = value.replace("${BIG:-", "").replace('}', "");
            assert!(
                err.message.contains(&confiture::display::path(&path)),
                "{key} {value}: {err}"
            );
            assert!(
                err.message
                    .contains(&format!("`migration.{key}` \"{shown}\" is too long")),
                "{key} {value}: {err}"
            );
            assert!(err.message.contains("2147483647 ms"), "{err}");
            assert!(err.help.as_deref().unwrap().contains("596h"), "{err:?}");
        }
        // The limit itself is accepted.
        let env = read_ok(&format!(
            "database_url: postgresql:///app\nmigration:\n  {key}: 2147483647ms\n"
        ));
        let got = match key {
            "lock_timeout" => env.migration.lock_timeout,
            "statement_timeout" => env.migration.statement_timeout.unwrap(),
            _ => env.migration.connect_timeout,
        };
        assert_eq!(got, confiture::config::Timeout::MAX);
    }
    // A URL's connect_timeout is whole seconds: the same limit, said in seconds.
    let (_, err) = read_err("database_url: postgresql:///app?connect_timeout=2147484\n");
    assert!(
        err.message
            .contains("connect_timeout is too long: at most 2147483 seconds"),
        "{err}"
    );
}

/// The YAML parser takes time quadratic in the nesting of flow collections (200,000 `[` took
/// 22 s): such files are refused before parsing. Each shape below nests 200,000 deep; the
/// last one hides closing brackets in quoted strings, which must not lower the bound.
#[test]
fn flow_collections_nested_200k_deep_are_refused_before_parsing() {
    let shapes = [
        "[".repeat(200_000),
        "{".repeat(200_000),
        "[a: ".repeat(50_000),
        "[\n".repeat(200_000),
        "[[[[[[[[[[a'b,\"']]]]]]]]]]\",".repeat(20_000),
        "[# ]]]]]]]]]]\n".repeat(20_000),
    ];
    for shape in shapes {
        let text = format!("database_url: postgresql:///app\nbuild: {shape}");
        let path = PathBuf::from("db/environments/deep.yaml");
        let err = Environment::parse(&text, &path, &vars).expect_err("nested 200,000 deep");
        assert_eq!(err.exit_code(), exit::INVALID, "{err}");
        assert!(
            err.message
                .starts_with("environment file db/environments/deep.yaml "),
            "{err}"
        );
        assert!(err.message.contains("nest"), "{err}");
        assert!(err.help.is_some(), "{err}");
    }
}

/// The bound is on the characters, not on the nesting one can see: 1,000 nested `[` are
/// read (and the nesting limit answers, at 100), 1,001 are not parsed at all.
#[test]
fn the_flow_bound_is_exact_at_its_limit() {
    let path = PathBuf::from("db/environments/deep.yaml");
    let text = |n: usize| format!("database_url: postgresql:///app\nbuild: {}", "[".repeat(n));
    let err = Environment::parse(&text(1_000), &path, &vars).unwrap_err();
    assert!(
        err.message
            .ends_with("`build` nests mappings and lists more than 100 deep; it was not read"),
        "{err}"
    );
    let err = Environment::parse(&text(1_001), &path, &vars).unwrap_err();
    assert!(err.message.contains("holds 1001 `[` or `{`"), "{err}");
}

/// A multi-gigabyte file is refused after reading 1 MiB, not read whole.
#[test]
fn a_file_larger_than_1_mib_is_refused_without_reading_it_all() {
    let (_, err) = read_err(&format!(
        "database_url: postgresql:///app\n# {}\n",
        "x".repeat(1024 * 1024)
    ));
    assert!(err.message.contains("is larger than 1024 KiB"), "{err}");
}

#[test]
fn ordinary_flow_collections_are_read() {
    let lists: String = (0..100)
        .map(|i| format!("k{i}: [a, {{b: [c, \"]]\"]}}, '[[']\n"))
        .collect();
    let env = read_ok(&format!(
        "database_url: postgresql:///app\ninclude_dirs: [[[[[[[[x]]]]]]]]\n{lists}"
    ));
    assert_eq!(env.connection.dbname, "app");
}

#[test]
fn an_invalid_url_never_shows_the_password() {
    let (_, err) = read_err("database_url: postgresql://app:${DB_PASSWORD}@h:port/app\n");
    assert!(
        err.message
            .contains("`database_url` is invalid: the port is not a number"),
        "{err}"
    );
}

#[test]
fn a_file_without_a_database_says_how_to_name_one() {
    // A misspelled key is named, with the right one.
    let (_, err) = read_err("databse_url: postgresql:///app\n");
    assert!(
        err.message.ends_with("`databse_url` is not a setting"),
        "{err}"
    );
    assert_eq!(err.help.as_deref(), Some("did you mean `database_url`?"));
    let (_, err) = read_err("url: postgresql:///app\n");
    assert!(err.message.ends_with("names no database"), "{err}");
    let (_, err) = read_err("");
    assert!(err.message.ends_with("is empty"), "{err}");
    let (_, err) = read_err("database_url: \"\"\n");
    assert!(err.message.contains("`database_url` is empty"), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let err = Environment::from_file(std::path::Path::new("/nonexistent/dir/prod.yaml"), &vars)
        .expect_err("no such file");
    assert_eq!(err.exit_code(), exit::INVALID);
    assert_eq!(
        err.message,
        "environment file /nonexistent/dir/prod.yaml does not exist"
    );
}

#[test]
fn describe_shows_where_and_which_database_never_the_password() {
    let dir = TempDir::new("cft_envfile");
    let path = dir.write(
        "db/environments/staging.yaml",
        "database_url: postgresql://postgres:${DB_PASSWORD}@db.internal:5432/app\n",
    );
    let env = Environment::from_file(&path, &vars).unwrap();
    let text = env.describe();
    assert_eq!(
        text,
        format!(
            "using staging ({}): postgres@db.internal:5432/app",
            confiture::display::path(&path)
        )
    );
    assert!(!format!("{text} {env:?}").contains("hunter2"));

    let env =
        Environment::from_url("postgresql://u:hunter2@[::1]:5433/db", "DATABASE_URL").unwrap();
    assert_eq!(env.describe(), "using DATABASE_URL: u@[::1]:5433/db");
}

/// hhx: `{:?}` of an environment whose `fleet.targets` lists a URL or conninfo with a password
/// showed it (`FleetList::Entries` derived `Debug`), as did `{:?}` of a `Selection::Url` and
/// of `VerifyOptions`/`DriftOptions` with a `ScratchServer::Url` (and of a URL given as
/// `Selection::Env`'s name), while `ConnectionSpec`'s
/// `Debug` redacts it: a service logging its environment or options leaked the password.
/// Every public value that keeps a connection string as written shows the connection it
/// names (`config::RedactedConnection`), never the text; a database name stays readable.
#[test]
fn debug_of_every_value_holding_a_connection_string_never_shows_its_password() {
    const SECRET: &str = "hunter2-Secret";
    let dir = TempDir::new("cft_envfile");
    let path = dir.write(
        "db/environments/staging.yaml",
        "database_url: postgresql://postgres@db.internal:5432/app\n\
         fleet:\n  targets:\n\
         \x20   - tenant_plain\n\
         \x20   - postgresql://app:${DB_PASSWORD}@db.internal:5432/tenant_url\n\
         \x20   - host=db.internal password=${DB_PASSWORD} dbname=tenant_conninfo\n\
         \x20   - postgresql://app:${DB_PASSWORD}@[bad/tenant_malformed\n",
    );
    let env = Environment::from_file(&path, &vars).unwrap();
    let url = format!("postgresql://app:{SECRET}@db.internal:5432/scratch");
    let scratch = confiture::verify::ScratchServer::Url(url.clone());
    let mut verify = confiture::verify::VerifyOptions::default();
    verify.scratch = scratch.clone();
    let mut drift = confiture::drift::DriftOptions::default();
    drift.scratch = scratch.clone();
    let shown = [
        format!("{env:?}"),
        format!("{:?}", env.fleet),
        format!("{:?}", confiture::config::Selection::Url(url.clone())),
        // A URL given where the environment's name goes (`--env $DATABASE_URL`).
        format!("{:?}", confiture::config::Selection::Env(url.clone())),
        format!("{scratch:?}"),
        format!("{verify:?}"),
        format!("{drift:?}"),
    ];
    for text in &shown {
        assert!(!text.contains(SECRET), "the password is shown: {text}");
    }
    // What is shown still says which connection: its user, host and database, and a name
    // listed bare as it is.
    assert!(shown[0].contains("\"tenant_plain\""), "{}", shown[0]);
    assert!(
        shown[0].contains("app@db.internal:5432/tenant_url"),
        "{}",
        shown[0]
    );
    assert!(shown[0].contains("tenant_conninfo"), "{}", shown[0]);
    for scratch in &shown[3..] {
        assert!(
            scratch.contains("app@db.internal:5432/scratch"),
            "{scratch}"
        );
    }
    assert_eq!(
        format!("{:?}", confiture::config::Selection::Env("staging".into())),
        "Env(\"staging\")"
    );
}

/// `--env NAME` whose file is a FIFO hung forever (opening it blocks until a writer comes),
/// then FIFOs were refused, which broke `-c <(sops -d prod.yaml)`. A FIFO, a link to one and a
/// character device are read (a silent FIFO is given up on after `STREAM_WAIT`: the unit test
/// and the bad-input case `env-name-is-a-fifo`); `/dev/zero` stops at the cap; a socket is
/// refused before it is opened.
#[test]
fn pipes_and_devices_are_read_and_sockets_refused() {
    let dir = TempDir::new("cft_envfifo");
    let fifo = dir.path().join("staging.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    for path in [fifo.clone(), link] {
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                std::fs::write(&fifo, "database_url: postgresql://h/piped\n").unwrap();
            })
        };
        let env = Environment::from_file(&path, &vars).unwrap();
        writer.join().unwrap();
        assert_eq!(env.connection.dbname, "piped", "{}", path.display());
    }
    let socket = dir.path().join("staging.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    for (path, what) in [
        (PathBuf::from("/dev/zero"), "is larger than 1024 KiB"),
        (socket, "is not a regular file (a socket or a block device)"),
    ] {
        // On a thread: reading must never hang.
        let (send, receive) = std::sync::mpsc::channel();
        let shown = path.clone();
        std::thread::spawn(move || {
            let _ = send.send(Environment::from_file(&path, &vars).map(|_| ()));
        });
        let err = receive
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("reading {} hangs", shown.display()))
            .unwrap_err();
        assert_eq!(err.exit_code(), exit::INVALID, "{err}");
        assert!(err.message.contains(what), "{}: {err}", shown.display());
        assert!(err.help.is_some(), "{err}");
    }
}

/// `migration.lock_wait: 5s` was ignored without a word (unknown `migration:` keys are left to
/// confiture (Python)), while `lock_wait` is our `--lock-wait` flag's and the library's option:
/// a command option written as a setting never applied. Every option of the one map of flags
/// (`--lock-wait`, `--steps`, `--allow-destructive`, ...) is refused naming the flag and field;
/// settings and confiture (Python)'s own keys are not.
#[test]
fn a_command_option_written_as_a_migration_setting_is_refused() {
    for (key, value, flag, field) in [
        ("lock_wait", "5s", "--lock-wait", "UpOptions::lock_wait"),
        ("steps", "1", "--steps", "UpOptions::steps"),
        (
            "allow_destructive",
            "true",
            "--allow-destructive",
            "UpOptions::allow_destructive",
        ),
        ("yes", "true", "--yes", "DownOptions::yes"),
        (
            "allow_non_empty",
            "true",
            "--allow-non-empty",
            "UpOptions::allow_non_empty",
        ),
        (
            "rerun_interrupted",
            "true",
            "--rerun-interrupted",
            "UpOptions::rerun_interrupted",
        ),
    ] {
        let (path, err) = read_err(&format!(
            "database_url: postgresql://h/db\nmigration:\n  tracking_table: t\n  {key}: {value}\n"
        ));
        assert_eq!(err.exit_code(), exit::INVALID);
        let shown = path.display().to_string();
        assert!(err.message.contains("line 4"), "{err}");
        assert!(
            err.message.contains(shown.rsplit('/').next().unwrap()),
            "{err}"
        );
        assert!(
            err.message.contains(&format!(
                "`migration.{key}` is not an environment setting: it is the `{flag}` flag \
                 (`{field}` in the library)"
            )),
            "{err}"
        );
        assert!(err.help.as_deref().unwrap_or("").contains(flag), "{err:?}");
    }
    // Our settings, and keys of confiture (Python)'s migration block, still read.
    read_ok(
        "database_url: postgresql://h/db\nmigration:\n  lock_timeout: 5s\n  \
         statement_timeout: 1m\n  wait_for_server: 10s\n  strict_mode: true\n  \
         destructive: gated\n  snapshot_history: false\n",
    );
}
