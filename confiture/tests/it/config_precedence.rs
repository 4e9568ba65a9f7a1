//! Which database: `--database-url`, then `--env`/`-c`, then `CONFITURE_DATABASE_URL`, then the
//! default environment file, then `DATABASE_URL`, then `DATABASE_URL` in `.env`; each rule, the
//! conflict that is refused, and the errors when nothing (or an unknown environment) is named.
//! Messages name the selections by the labels the caller passes (the CLI's flags here).

use crate::common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::TempDir;
use confiture::config::{resolve_with, Environment, Labels, Origin, Selection};
use confiture::exit;
use confiture::workspace::{Settings, Workspace};
use confiture::Result;

/// The labels the CLI passes (`cargo_confiture`'s `SELECTION_LABELS`).
const FLAGS: Labels<'static> = Labels {
    url: "--database-url",
    env: "--env",
    file: "-c",
};

fn resolve(
    ws: &Workspace,
    selection: &Selection,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Environment> {
    resolve_with(ws, selection, &FLAGS, vars)
}

struct Fixture {
    dir: TempDir,
    ws: Workspace,
}

/// A workspace whose environments directory holds `files` (name → YAML).
fn fixture(files: &[(&str, &str)]) -> Fixture {
    let dir = TempDir::new("cft_precedence");
    for (name, text) in files {
        dir.write(&format!("db/environments/{name}"), text);
    }
    let ws = Workspace {
        root: dir.path().to_path_buf(),
        start: dir.path().to_path_buf(),
        manifest: None,
        package_manifest: None,
        settings: Settings::default(),
    };
    Fixture { dir, ws }
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

const LOCAL: (&str, &str) = (
    "local.yaml",
    "database_url: postgresql://app@localhost:5432/local_db\n",
);
const STAGING: (&str, &str) = (
    "staging.yaml",
    "database_url: postgresql://app@staging.internal:5432/app\n",
);
const CONFITURE_URL: (&str, &str) = (
    "CONFITURE_DATABASE_URL",
    "postgresql://ci@ci-host:5432/ci_db",
);
const DATABASE_URL: (&str, &str) = (
    "DATABASE_URL",
    "postgresql://heroku@heroku-host:5432/heroku_db",
);

#[test]
fn rule_1_database_url_flag_beats_everything() {
    let f = fixture(&[LOCAL, STAGING]);
    let env = resolve(
        &f.ws,
        &Selection::Url("postgresql://flag@flag-host/flag_db".to_string()),
        &vars(&[CONFITURE_URL, DATABASE_URL]),
    )
    .unwrap();
    assert_eq!(env.origin, Origin::Url);
    assert_eq!(env.connection.to_string(), "flag@flag-host:5432/flag_db");
    assert_eq!(
        env.describe(),
        "using --database-url: flag@flag-host:5432/flag_db"
    );
}

#[test]
fn rule_2_env_flag_beats_the_variables_and_the_default_file() {
    let f = fixture(&[LOCAL, STAGING]);
    let env = resolve(
        &f.ws,
        &Selection::Env("staging".to_string()),
        &vars(&[DATABASE_URL]),
    )
    .unwrap();
    assert_eq!(env.origin, Origin::Env);
    assert_eq!(env.name, "staging");
    assert_eq!(
        env.file,
        Some(f.dir.path().join("db/environments/staging.yaml"))
    );
    assert_eq!(env.connection.host, "staging.internal");
}

#[test]
fn rule_2_config_flag_reads_any_file() {
    let f = fixture(&[LOCAL]);
    let path = f.dir.write(
        "elsewhere/prod.yaml",
        "database_url: postgresql://p@prod-host/prod_db\n",
    );
    let env = resolve(
        &f.ws,
        &Selection::File(path.clone()),
        &vars(&[DATABASE_URL]),
    )
    .unwrap();
    assert_eq!(env.origin, Origin::File);
    assert_eq!(env.name, "prod");
    assert_eq!(env.file, Some(path));
    assert_eq!(env.connection.host, "prod-host");
}

#[test]
fn an_explicit_file_and_a_confiture_database_url_naming_another_database_is_refused() {
    let f = fixture(&[STAGING]);
    let err = resolve(
        &f.ws,
        &Selection::Env("staging".to_string()),
        &vars(&[CONFITURE_URL]),
    )
    .expect_err("two databases named");
    assert_eq!(err.exit_code(), exit::INVALID);
    assert!(
        err.message.contains("app@staging.internal:5432/app"),
        "{err}"
    );
    assert!(err.message.contains("ci@ci-host:5432/ci_db"), "{err}");
    assert!(
        err.help
            .as_deref()
            .unwrap()
            .contains("unset CONFITURE_DATABASE_URL"),
        "{err:?}"
    );

    let path = f.dir.path().join("db/environments/staging.yaml");
    let err = resolve(&f.ws, &Selection::File(path), &vars(&[CONFITURE_URL])).expect_err("-c too");
    assert_eq!(err.exit_code(), exit::INVALID);
}

#[test]
fn an_explicit_file_and_a_confiture_database_url_naming_the_same_database_agree() {
    let f = fixture(&[STAGING]);
    let same = (
        "CONFITURE_DATABASE_URL",
        "postgresql://other_user:pw@STAGING.internal:5432/app",
    );
    let env = resolve(
        &f.ws,
        &Selection::Env("staging".to_string()),
        &vars(&[same]),
    )
    .unwrap();
    assert_eq!(env.origin, Origin::Env);
    assert_eq!(env.connection.user, "app", "the file's settings are used");
}

#[test]
fn rule_3_confiture_database_url_beats_the_default_file_and_database_url() {
    let f = fixture(&[LOCAL]);
    let env = resolve(
        &f.ws,
        &Selection::Auto,
        &vars(&[CONFITURE_URL, DATABASE_URL]),
    )
    .unwrap();
    assert_eq!(env.origin, Origin::ConfitureDatabaseUrl);
    assert_eq!(env.connection.dbname, "ci_db");
    assert_eq!(
        env.describe(),
        "using CONFITURE_DATABASE_URL: ci@ci-host:5432/ci_db"
    );
}

#[test]
fn rule_4_the_default_environment_file_beats_database_url() {
    let f = fixture(&[LOCAL]);
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[DATABASE_URL])).unwrap();
    assert_eq!(env.origin, Origin::DefaultEnv);
    assert_eq!(env.name, "local");
    assert_eq!(env.connection.dbname, "local_db");
}

#[test]
fn rule_4_uses_the_workspace_s_default_env() {
    let mut f = fixture(&[LOCAL, ("dev.yaml", "database_url: postgresql:///dev_db\n")]);
    f.ws.settings.default_env = "dev".to_string();
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[])).unwrap();
    assert_eq!(env.name, "dev");
    assert_eq!(env.connection.dbname, "dev_db");
}

/// A default environment file that is there but cannot be used (a broken symbolic link, a
/// directory) fell through to `DATABASE_URL`: perhaps another database. It is an error naming
/// the file; only a file that is not there at all lets `DATABASE_URL` decide.
#[test]
fn rule_4_a_default_file_that_is_there_but_unusable_is_an_error_not_a_fall_through() {
    let f = fixture(&[STAGING]);
    let local = f.dir.path().join("db/environments/local.yaml");
    std::os::unix::fs::symlink(f.dir.path().join("db/environments/nowhere.yaml"), &local)
        .expect("a broken symbolic link");
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[DATABASE_URL])).unwrap_err();
    assert_eq!(err.exit_code(), exit::INVALID);
    assert!(
        err.message.contains("local.yaml is a broken symbolic link"),
        "{err}"
    );

    std::fs::remove_file(&local).unwrap();
    std::fs::create_dir(&local).unwrap();
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[DATABASE_URL])).unwrap_err();
    assert!(err.message.contains("local.yaml is a directory"), "{err}");

    std::fs::remove_dir(&local).unwrap();
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[DATABASE_URL])).unwrap();
    assert_eq!(env.origin, Origin::DatabaseUrl);
}

/// A default environment whose file is there under another name — `default_env = "locl"`
/// beside `local.yaml`, `Local.yaml` or `local.yml` for the default `local` — fell through to
/// `DATABASE_URL` (or `.env`): another database, which the help of its absence offered to
/// create (`--create-database`). A misspelling is refused, naming the file there and how the
/// default was chosen; a default file simply not there still lets the next rule decide.
#[test]
fn rule_4_a_misnamed_default_file_is_refused_not_a_fall_through() {
    let dotenv = format!("DATABASE_URL={DOTENV_URL}\n");
    let mut f = fixture(&[LOCAL, STAGING]);
    f.dir.write(".env", &dotenv);
    f.ws.settings.default_env = "locl".to_string();
    f.ws.settings.default_env_from = Some(confiture::workspace::WORKSPACE_SETTING);
    for pairs in [&[DATABASE_URL][..], &[]] {
        let err = resolve(&f.ws, &Selection::Auto, &vars(pairs)).unwrap_err();
        assert_eq!(err.exit_code(), exit::INVALID, "{err}");
        let local = PathBuf::from("db/environments/local.yaml");
        let locl = PathBuf::from("db/environments/locl.yaml");
        let (missing, there) = err.message.split_once(" does not exist, but ").unwrap();
        assert!(missing.ends_with(&locl.display().to_string()), "{err}");
        assert!(
            there.ends_with(&format!("{} does", local.display())),
            "{err}"
        );
        let text = format!("{err:#}");
        assert!(
            text.contains("`default_env` in `[workspace.metadata.confiture]`"),
            "{text}"
        );
        assert!(text.contains("set `default_env = \"local\"`"), "{text}");
        assert!(
            !text.contains("heroku") && !text.contains("dotenv"),
            "{text}"
        );
    }

    // The default `local`, misspelled in the file's name or its extension.
    for misnamed in ["Local.yaml", "local.yml"] {
        let f = fixture(&[STAGING, (misnamed, LOCAL.1)]);
        f.dir.write(".env", &dotenv);
        let err = resolve(&f.ws, &Selection::Auto, &vars(&[DATABASE_URL])).unwrap_err();
        assert_eq!(err.exit_code(), exit::INVALID, "{err}");
        let text = format!("{err:#}");
        assert!(text.contains(misnamed), "{text}");
        assert!(text.contains("no `default_env` is set"), "{text}");
        assert!(text.contains("rename"), "{text}");
    }

    // Nothing of its name there: the next rule decides, as before.
    let mut f = fixture(&[LOCAL, STAGING]);
    f.ws.settings.default_env = "dev".to_string();
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[DATABASE_URL])).unwrap();
    assert_eq!(env.origin, Origin::DatabaseUrl);
}

#[test]
fn rule_5_database_url_is_the_last_resort() {
    let f = fixture(&[STAGING]);
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[DATABASE_URL])).unwrap();
    assert_eq!(env.origin, Origin::DatabaseUrl);
    assert_eq!(env.connection.dbname, "heroku_db");
}

#[test]
fn empty_variables_count_as_unset() {
    let f = fixture(&[LOCAL]);
    let env = resolve(
        &f.ws,
        &Selection::Auto,
        &vars(&[("CONFITURE_DATABASE_URL", "")]),
    )
    .unwrap();
    assert_eq!(env.origin, Origin::DefaultEnv);
}

/// A variable set to nothing (a CI secret not defined for the branch) counts as unset, and
/// "no database configured" listed it among the ways not taken, never saying that it was set:
/// the error says which were set empty, and the listing still follows.
#[test]
fn nothing_found_says_which_variables_were_set_empty() {
    let f = fixture(&[STAGING]);
    for (set, empty) in [
        (vec![("DATABASE_URL", "")], vec!["DATABASE_URL"]),
        (vec![("DATABASE_URL", "  ")], vec!["DATABASE_URL"]),
        (
            vec![("CONFITURE_DATABASE_URL", ""), ("DATABASE_URL", "")],
            vec!["CONFITURE_DATABASE_URL", "DATABASE_URL"],
        ),
    ] {
        let err = resolve(&f.ws, &Selection::Auto, &vars(&set)).expect_err("nothing named");
        assert_eq!(err.message, "no database configured");
        for name in &empty {
            let said = format!("{name} is set but empty, which counts as unset");
            assert!(
                err.details.iter().any(|d| d.starts_with(&said)),
                "{set:?}: {:?}",
                err.details
            );
        }
        assert!(err
            .details
            .iter()
            .any(|d| d.contains("5. the DATABASE_URL")));
    }
    // Unset: no such line.
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("nothing named");
    assert!(
        !err.details.iter().any(|d| d.contains("set but empty")),
        "{:?}",
        err.details
    );
}

/// `DATABASE_URL` set to nothing in `.env` (`DATABASE_URL=`; a `${VAR}` that expands to
/// nothing is refused, `dotenv_variables_not_set_or_empty_are_refused_at_their_line`) counts
/// as unset, as the variable does; "no database configured" listed the `.env`
/// among the ways not taken, never saying that it sets the variable: it says so, as for the
/// process's variables.
#[test]
fn nothing_found_says_that_dotenv_sets_database_url_empty() {
    let f = fixture(&[STAGING]);
    for text in ["DATABASE_URL=\n", "export DATABASE_URL=\"  \"\n"] {
        f.dir.write(".env", text);
        let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("nothing named");
        assert_eq!(err.message, "no database configured");
        assert!(
            err.details.iter().any(|d| d.starts_with("DATABASE_URL in ")
                && d.contains(".env is set but empty, which counts as unset")),
            "{text:?}: {:?}",
            err.details
        );
    }
    f.dir.write(".env", "OTHER=1\n");
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("nothing named");
    assert!(
        !err.details.iter().any(|d| d.contains("set but empty")),
        "{:?}",
        err.details
    );
}

#[test]
fn nothing_found_lists_the_five_ways() {
    let f = fixture(&[STAGING]);
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("nothing named");
    assert_eq!(err.exit_code(), exit::INVALID);
    assert_eq!(err.message, "no database configured");
    let details = err.details.join("\n");
    for way in [
        "--database-url",
        "--env NAME",
        "-c FILE",
        "CONFITURE_DATABASE_URL",
        "local.yaml",
        "DATABASE_URL",
    ] {
        assert!(details.contains(way), "{way} in {details}");
    }
}

#[test]
fn an_unknown_environment_lists_those_that_exist() {
    let f = fixture(&[
        LOCAL,
        STAGING,
        ("production.yaml", "database_url: postgresql:///p\n"),
    ]);
    let err =
        resolve(&f.ws, &Selection::Env("prodution".to_string()), &vars(&[])).expect_err("unknown");
    assert_eq!(err.exit_code(), exit::INVALID);
    assert!(
        err.message
            .starts_with("environment \"prodution\" not found"),
        "{err}"
    );
    assert_eq!(
        err.help.as_deref(),
        Some("did you mean --env production? available environments: local, production, staging")
    );

    let f = fixture(&[("prod.yml", "database_url: postgresql:///p\n")]);
    let err = resolve(&f.ws, &Selection::Env("prod".to_string()), &vars(&[])).expect_err("a .yml");
    assert!(
        err.details
            .iter()
            .any(|d| d.contains("rename it to prod.yaml")),
        "{err:?}"
    );

    let f = fixture(&[]);
    let err = resolve(&f.ws, &Selection::Env("x".to_string()), &vars(&[])).expect_err("none");
    assert!(
        err.help
            .as_deref()
            .unwrap()
            .contains("holds no environment files"),
        "{err:?}"
    );
}

#[test]
fn an_environment_name_cannot_escape_the_directory() {
    let f = fixture(&[LOCAL]);
    for name in ["../local", "/etc/passwd", ".hidden", "", "local.yaml"] {
        let err = resolve(&f.ws, &Selection::Env(name.to_string()), &vars(&[])).expect_err(name);
        assert_eq!(err.exit_code(), exit::INVALID, "{name}");
        assert!(
            err.message.starts_with("invalid environment name"),
            "{name}: {err}"
        );
    }
}

/// A file name given as the environment's name: `--env prod.yml` looked for
/// `prod.yml.yaml`, and with `prod.yml` there said the directory held no environment files and
/// to create `prod.yml.yaml`; `--env prod.yaml` was refused with `--env staging` as the
/// example. Either extension is refused naming the environment to give (`--env prod`), and a
/// `.yml` file is told to be renamed.
#[test]
fn a_file_name_given_as_the_environment_is_refused_naming_the_environment() {
    for (present, given) in [
        ("prod.yaml", "prod.yaml"),
        ("prod.yaml", "prod.yml"),
        ("prod.yml", "prod.yml"),
        ("prod.yml", "prod.yaml"),
    ] {
        let f = fixture(&[(present, "database_url: postgresql:///p\n")]);
        let err = resolve(&f.ws, &Selection::Env(given.to_string()), &vars(&[])).expect_err(given);
        let what = format!("{present}, --env {given}: {err:?}");
        assert_eq!(err.exit_code(), exit::INVALID, "{what}");
        assert!(
            err.message.starts_with("invalid environment name"),
            "{what}"
        );
        let help = err.help.as_deref().unwrap_or_default();
        assert!(help.contains("(e.g. --env prod)"), "{what}");
        assert!(!format!("{err:?}").contains(".yml.yaml"), "{what}");
        let renamed = err
            .details
            .iter()
            .any(|d| d.contains("rename it to prod.yaml"));
        assert_eq!(renamed, present == "prod.yml", "{what}");
    }
    // A name that would still be refused without its extension keeps the generic example.
    let f = fixture(&[LOCAL]);
    let err = resolve(&f.ws, &Selection::Env("../x.yml".into()), &vars(&[])).unwrap_err();
    assert!(err.help.unwrap().contains("(e.g. --env staging)"));
}

#[test]
fn variables_in_the_file_come_from_the_injected_lookup() {
    let f = fixture(&[("local.yaml", "database_url: postgresql://app:${PW}@h/db\n")]);
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[("PW", "from-vars")])).unwrap();
    assert_eq!(env.connection.password.as_deref(), Some("from-vars"));
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("PW unset");
    assert!(err.message.contains("${PW}"), "{err}");
    assert!(
        err.message.contains(
            &PathBuf::from("db/environments/local.yaml")
                .display()
                .to_string()
        ),
        "{err}"
    );
}

/// A URL variable whose value is not UTF-8 (`process_vars` gives U+FFFD for the bad bytes) is
/// refused naming the variable; it is not taken for unset, which would fall through to the
/// next rule (or to "no database configured").
#[test]
fn a_url_variable_that_is_not_utf8_is_refused_naming_it() {
    for name in ["CONFITURE_DATABASE_URL", "DATABASE_URL"] {
        let f = fixture(&[]);
        let value = "postgresql://app@h:5432/db\u{FFFD}";
        let err = resolve(&f.ws, &Selection::Auto, &vars(&[(name, value)])).unwrap_err();
        assert_eq!(err.exit_code(), exit::INVALID, "{err}");
        assert!(
            err.message.contains(&format!(
                "the {name} environment variable is not valid UTF-8"
            )),
            "{err}"
        );
    }
}

/// The library's own `resolve` names no CLI flag: an application calling it has none.
#[test]
fn the_library_labels_name_no_flag() {
    let f = fixture(&[LOCAL, STAGING]);
    let none = Fixture {
        ws: Workspace {
            root: f.dir.path().join("empty"),
            start: f.dir.path().join("empty"),
            ..f.ws.clone()
        },
        dir: TempDir::new("cft_precedence"),
    };
    let errors = [
        confiture::config::resolve(&f.ws, &Selection::Env("stagign".into()), &vars(&[])),
        confiture::config::resolve(&f.ws, &Selection::Env("../x".into()), &vars(&[])),
        confiture::config::resolve(&f.ws, &Selection::File("missing.yaml".into()), &vars(&[])),
        confiture::config::resolve(
            &f.ws,
            &Selection::Env("staging".into()),
            &vars(&[CONFITURE_URL]),
        ),
        confiture::config::resolve(&none.ws, &Selection::Auto, &vars(&[])),
    ];
    for result in errors {
        let err = result.expect_err("refused");
        let text = format!("{err} {:?} {:?}", err.help, err.details);
        for flag in ["--env", "-c ", "--database-url"] {
            assert!(!text.contains(flag), "{flag} in {text}");
        }
    }
    let env = confiture::config::resolve(
        &f.ws,
        &Selection::Url("postgresql://u@h/db".into()),
        &vars(&[]),
    )
    .unwrap();
    assert_eq!(env.origin, Origin::Url);
    assert_eq!(env.describe(), "using Migrator::from_url: u@h:5432/db");
}

const DOTENV_URL: &str = "postgresql://dotenv@dotenv-host:5432/dotenv_db";

/// Rule 6: `DATABASE_URL` in the workspace root's `.env`, when nothing else names a database.
#[test]
fn rule_6_dotenv_database_url_is_the_last_resort() {
    let f = fixture(&[]);
    f.dir.write(
        ".env",
        &format!("# local settings\nOTHER=1\nexport DATABASE_URL=\"{DOTENV_URL}\"\n"),
    );
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[])).unwrap();
    assert_eq!(env.origin, Origin::DotEnv);
    assert_eq!(
        env.connection.to_string(),
        "dotenv@dotenv-host:5432/dotenv_db"
    );
    assert!(env.name.starts_with("DATABASE_URL in "), "{}", env.name);
    // The line that sets it, as every message about the URL names it.
    assert!(env.name.ends_with(".env, line 3"), "{}", env.name);
    // Nothing was set in the process: a `.env` is read, never loaded.
    assert_ne!(
        std::env::var("DATABASE_URL").ok().as_deref(),
        Some(DOTENV_URL)
    );
}

/// A `.env` never beats a way of naming the database that is given: every other rule wins.
#[test]
fn dotenv_never_overrides_anything_that_is_set() {
    let f = fixture(&[STAGING]);
    f.dir.write(".env", &format!("DATABASE_URL={DOTENV_URL}\n"));
    type Case<'a> = (Selection, &'a [(&'a str, &'a str)], Origin);
    let cases: [Case; 4] = [
        (Selection::Auto, &[DATABASE_URL], Origin::DatabaseUrl),
        (
            Selection::Auto,
            &[CONFITURE_URL],
            Origin::ConfitureDatabaseUrl,
        ),
        (Selection::Env("staging".into()), &[], Origin::Env),
        (
            Selection::Url("postgresql://u@h/db".into()),
            &[],
            Origin::Url,
        ),
    ];
    for (selection, pairs, origin) in cases {
        let env = resolve(&f.ws, &selection, &vars(pairs)).unwrap();
        assert_eq!(env.origin, origin, "{selection:?}");
        assert!(
            !env.connection.to_string().contains("dotenv"),
            "{selection:?}"
        );
    }
    f.dir.write("db/environments/local.yaml", LOCAL.1);
    let env = resolve(&f.ws, &Selection::Auto, &vars(&[])).unwrap();
    assert_eq!(env.origin, Origin::DefaultEnv);
}

/// A `.env` without the variable (or with it empty) falls through to "no database
/// configured", which lists the `.env` as the sixth way; a broken `.env` is refused naming
/// the file, without quoting its text (it holds passwords).
#[test]
fn dotenv_without_the_variable_or_broken() {
    let f = fixture(&[]);
    f.dir.write(".env", "OTHER=1\nDATABASE_URL=\n");
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("nothing named");
    assert_eq!(err.message, "no database configured");
    assert!(
        err.details
            .iter()
            .any(|d| d.starts_with("  6. DATABASE_URL in ") && d.ends_with(".env")),
        "{:?}",
        err.details
    );

    f.dir.write(
        ".env",
        "DATABASE_URL=postgresql://u:s3cret@h/db\nthis line's 'broken\n",
    );
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("broken .env");
    assert_eq!(err.exit_code(), exit::INVALID);
    let text = format!("{err} {:?} {:?} {:?}", err.help, err.details, err.cause());
    assert!(
        text.contains(".env:2: a line is not `NAME=value`"),
        "{text}"
    );
    assert!(
        !text.contains("s3cret") && !text.contains("broken"),
        "{text}"
    );

    f.dir.write(".env", "DATABASE_URL=mysql://u@h/db\n");
    let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).expect_err("bad URL");
    assert!(
        err.message
            .starts_with("invalid database URL in DATABASE_URL in "),
        "{err}"
    );
}

/// A `${VAR}` in `.env` of a variable not set was dotenvy's "": `postgresql://h/${DB}` was the
/// `postgres` database (`hat3_${TENANT}` another one, `${DB_HOST}` localhost, `${DB_USER}` the
/// system user), used with no word. `.env` values are expanded as environment files' are,
/// by the one expansion: a variable not set, or set to "" without a default, is refused
/// (exit 5) naming `.env`, its line and the variable, and so is a part a `${VAR:-}` left
/// out; dotenvy's `$VAR` is a variable too, an earlier line of the file gives one its value
/// (expanded so), and a `$` quoted or escaped is kept.
#[test]
fn dotenv_variables_not_set_or_empty_are_refused_at_their_line() {
    let f = fixture(&[]);
    let set = [
        ("CFT_HD1_SET", "app"),
        ("CFTHD1SET", "app"),
        ("CFT_HD1_EMPTY", ""),
    ];
    for (text, at, says) in [
        (
            "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/${CFT_HD1_DB_NAME}\n",
            1,
            "`DATABASE_URL` uses ${CFT_HD1_DB_NAME}, which is not set",
        ),
        (
            "# c\nDATABASE_URL=postgresql://postgres@h/hat3_${CFT_HD1_TENANT}\n",
            2,
            "uses ${CFT_HD1_TENANT}, which is not set",
        ),
        (
            "DATABASE_URL=\"postgresql://u@${CFT_HD1_HOST}:5432/db\"\n",
            1,
            "uses ${CFT_HD1_HOST}, which is not set",
        ),
        (
            "A=1\nexport DATABASE_URL=postgresql://${CFT_HD1_USER}@h/db\n",
            2,
            "uses ${CFT_HD1_USER}, which is not set",
        ),
        (
            "DATABASE_URL=postgresql://u@h/$CFTHD1DB\n",
            1,
            "uses ${CFTHD1DB}, which is not set",
        ),
        // dotenvy's `$NAME` ends before the `_`: `$CFT` and `_HD1_SET`, a variable not meant,
        // refused whether it is set or not, with the braces to write (below).
        (
            "DATABASE_URL=postgresql://u@h/$CFT_HD1_SET\n",
            1,
            "uses `$CFT_HD1_SET`, which dotenvy (and so sqlx-cli) reads as the variable `$CFT` \
             followed by `_HD1_SET`",
        ),
        (
            "CFT=x\nDATABASE_URL=postgresql://u@h/a$CFT_HD1_SET\n",
            2,
            "uses `$CFT_HD1_SET`, which dotenvy",
        ),
        (
            "DATABASE_URL=postgresql://u@h/x${CFT_HD1_EMPTY}\n",
            1,
            "has a part left out: ${CFT_HD1_EMPTY} is set to an empty string",
        ),
        (
            "DATABASE_URL=${CFT_HD1_EMPTY}\n",
            1,
            "is empty: ${CFT_HD1_EMPTY} is set to an empty string",
        ),
        (
            "DATABASE_URL=postgresql://u@h/${CFT_HD1_NONE:-}\n",
            1,
            "has an empty database name: ${CFT_HD1_NONE:-} expanded to nothing",
        ),
        (
            "DB=\nDATABASE_URL=postgresql://u@h/${DB}\n",
            2,
            "has a part left out: ${DB} is set to an empty string",
        ),
        (
            "DB=${CFT_HD1_TENANT}\nDATABASE_URL=postgresql://u@h/${DB}\n",
            1,
            "`DB` uses ${CFT_HD1_TENANT}, which is not set",
        ),
        (
            "DATABASE_URL=postgresql://u:p$@h/db\n",
            1,
            "has a `$` that starts no variable's name",
        ),
    ] {
        f.dir.write(".env", text);
        let err = resolve(&f.ws, &Selection::Auto, &vars(&set)).expect_err(text);
        assert_eq!(err.exit_code(), exit::INVALID, "{text:?}: {err}");
        assert!(
            err.message.contains(&format!(".env:{at}: ")) && err.message.contains(says),
            "{text:?}: {err}"
        );
    }
    f.dir
        .write(".env", "DATABASE_URL=postgresql://u@h/$CFT_HD1_SET\n");
    let err = resolve(&f.ws, &Selection::Auto, &vars(&set)).expect_err("$CFT_HD1_SET");
    assert_eq!(
        err.help.as_deref(),
        Some(
            "write `${CFT_HD1_SET}` for the variable CFT_HD1_SET, or `${CFT}_HD1_SET` for CFT \
             followed by `_HD1_SET`"
        ),
        "{err}"
    );
    for (text, url) in [
        (
            "DATABASE_URL=postgresql://u@h/${CFT_HD1_SET}\n",
            "u@h:5432/app",
        ),
        ("DATABASE_URL=postgresql://u@h/$CFTHD1SET\n", "u@h:5432/app"),
        (
            "DATABASE_URL=postgresql://u@h/${CFT_HD1_SET}_x\n",
            "u@h:5432/app_x",
        ),
        (
            "DATABASE_URL=postgresql://u@h/${CFT_HD1_NONE:-dflt}\n",
            "u@h:5432/dflt",
        ),
        (
            "DB=tenant_${CFT_HD1_SET}\nDATABASE_URL=\"postgresql://u@h/${DB}\"\n",
            "u@h:5432/tenant_app",
        ),
        ("DATABASE_URL='postgresql://u@h/a$b'\n", "u@h:5432/a$b"),
        ("DATABASE_URL=postgresql://u@h/a\\$b\n", "u@h:5432/a$b"),
    ] {
        f.dir.write(".env", text);
        let env = resolve(&f.ws, &Selection::Auto, &vars(&set)).expect(text);
        assert_eq!(env.connection.to_string(), url, "{text:?}");
    }
}

/// A workspace `ws` whose member `billing` sets its own `migrations_dir`, discovered from
/// the member's directory (as `cd billing && cargo confiture ...` finds it).
fn member_fixture() -> (TempDir, Workspace) {
    let dir = TempDir::new("cft_member_dotenv");
    dir.write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"billing\", \"app\"]\n",
    );
    dir.write(
        "billing/Cargo.toml",
        "[package]\nname = \"billing\"\nversion = \"0.1.0\"\n\n\
         [package.metadata.confiture]\nmigrations_dir = \"migrations\"\n",
    );
    dir.write("billing/src/lib.rs", "");
    let ws = Workspace::discover(&dir.path().join("billing/src")).unwrap();
    assert_eq!(ws.root, dir.path());
    (dir, ws)
}

const BILLING_URL: &str = "postgresql://postgres@127.0.0.1:5432/billing_db";
const ROOT_URL: &str = "postgresql://postgres@127.0.0.1:5432/app_db";

/// Rule 6 reads the nearest `.env` that sets `DATABASE_URL`, from the directory the workspace
/// was found from up to the workspace root (as sqlx-cli's dotenvy looks from the current
/// directory upward): a member's own `.env` beats the root's, which named another database —
/// `up` in a member migrated the root's database. One that does not set the variable (or
/// sets it empty) is passed over; the start directory's beats its package's.
#[test]
fn rule_6_the_nearest_dotenv_wins_over_the_workspace_root_s() {
    let (dir, ws) = member_fixture();
    dir.write(".env", &format!("DATABASE_URL={ROOT_URL}\n"));
    dir.write("billing/.env", &format!("DATABASE_URL={BILLING_URL}\n"));
    let env = resolve(&ws, &Selection::Auto, &vars(&[])).unwrap();
    assert_eq!(env.origin, Origin::DotEnv);
    assert!(
        env.connection.to_string().ends_with("/billing_db"),
        "{}",
        env.name
    );
    assert!(env.name.ends_with("billing/.env, line 1"), "{}", env.name);

    dir.write("billing/src/.env", "OTHER=1\nDATABASE_URL=\n");
    let env = resolve(&ws, &Selection::Auto, &vars(&[])).unwrap();
    assert!(
        env.connection.to_string().ends_with("/billing_db"),
        "{}",
        env.name
    );

    dir.write("billing/.env", "OTHER=1\n");
    let env = resolve(&ws, &Selection::Auto, &vars(&[])).unwrap();
    assert!(
        env.connection.to_string().ends_with("/app_db"),
        "{}",
        env.name
    );

    dir.write(
        "billing/src/.env",
        "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/src_db\n",
    );
    let env = resolve(&ws, &Selection::Auto, &vars(&[])).unwrap();
    assert!(
        env.connection.to_string().ends_with("/src_db"),
        "{}",
        env.name
    );

    // Found from the root, a member's `.env` is not read: the root's is the nearest.
    let at_root = Workspace::discover(dir.path()).unwrap();
    let env = resolve(&at_root, &Selection::Auto, &vars(&[])).unwrap();
    assert!(
        env.connection.to_string().ends_with("/app_db"),
        "{}",
        env.name
    );
}

/// "no database configured" names every `.env` looked at, the start directory's first — it
/// named the root's alone, so that a member's own `.env` seemed not to count.
#[test]
fn nothing_found_names_every_dotenv_looked_at() {
    let (dir, ws) = member_fixture();
    dir.write("billing/.env", "OTHER=1\n");
    let err = resolve(&ws, &Selection::Auto, &vars(&[])).expect_err("nothing named");
    assert_eq!(err.message, "no database configured");
    let six = err
        .details
        .iter()
        .find(|d| d.starts_with("  6. DATABASE_URL in "))
        .unwrap_or_else(|| panic!("{:?}", err.details));
    let cwd = std::env::current_dir().unwrap();
    let shown = |rel: &str| {
        let path = dir.path().join(rel);
        confiture::display::relative_to(&path, &cwd)
            .display()
            .to_string()
    };
    let (src, billing, root) = (
        shown("billing/src/.env"),
        shown("billing/.env"),
        shown(".env"),
    );
    let at = |p: &str| six.find(p).unwrap_or_else(|| panic!("{p} in {six}"));
    assert!(at(&src) < at(&billing) && at(&billing) < at(&root), "{six}");
}

/// A setting no flag or URL parameter sets (`migration.tracking_table`) is set in an
/// environment file: the one read, else one to give — with `-c FILE` for the command line's
/// environments, never for a program's, which has no `-c`: it gives one to
/// `Migrator::from_config`, or sets the environment it built. Every way of choosing a database
/// that reads no file, by the command line's labels and by the library's.
#[test]
fn where_to_set_a_setting_is_said_to_who_built_the_environment() {
    let f = fixture(&[("staging.yaml", "database_url: postgresql://h/staging\n")]);
    let env_vars = vars(&[("DATABASE_URL", "postgresql://h/from_var")]);
    let set = |env: &Environment| env.set_in_file("migration.tracking_table", "ops.t");
    let by_url = Selection::Url("postgresql://h/app".into());
    for (selection, label) in [(&by_url, None), (&Selection::Auto, Some("DATABASE_URL"))] {
        let cli = resolve(&f.ws, selection, &env_vars).unwrap();
        let label = label.unwrap_or("--database-url");
        assert_eq!(
            set(&cli),
            format!(
                "`migration.tracking_table: ops.t` in an environment file given with `-c FILE` \
                 ({label} reads none)"
            )
        );
        let library = confiture::config::resolve(&f.ws, selection, &env_vars).unwrap();
        let said = set(&library);
        assert!(!said.contains("-c"), "{said}");
        assert!(
            said.starts_with(
                "`migration.tracking_table: ops.t` in an environment file given to \
                 `Migrator::from_config` ("
            ) && said.ends_with(
                "reads none), or ops.t as the environment's `MigrationSettings::tracking_table` \
                 (`Environment::migration`)"
            ),
            "{said}"
        );
    }
    // A program's own environment is the library's too.
    let own = Environment::from_url("postgresql://h/app", "DATABASE_URL").unwrap();
    assert!(set(&own).contains("given to `Migrator::from_config` (DATABASE_URL reads none)"));
    // An environment read from a file names that file, whoever built it.
    let staging = Selection::Env("staging".into());
    for env in [
        resolve(&f.ws, &staging, &env_vars).unwrap(),
        confiture::config::resolve(&f.ws, &staging, &env_vars).unwrap(),
    ] {
        let said = set(&env);
        assert!(
            said.starts_with("`migration.tracking_table: ops.t` in ")
                && said.ends_with("staging.yaml"),
            "{said}"
        );
    }
}

/// An environment file's `${DATABASE_URL}` taking a `.env`'s invalid URL was "`database_url` is
/// invalid (in $DATABASE_URL, which it is)" — `echo $DATABASE_URL` is empty: every error about
/// a value that came from a `.env` names its line, as the connection's errors do; the password
/// is never shown.
#[test]
fn an_invalid_url_a_dotenv_gave_names_its_line() {
    for (file, password) in [
        (
            "database_url: ${DATABASE_URL:-postgresql://h/fallback}\n",
            "Se%zzcret",
        ),
        ("database_url: ${DATABASE_URL}\n", "Se%zzcret"),
    ] {
        let f = fixture(&[("local.yaml", file)]);
        f.dir.write(
            ".env",
            &format!("DATABASE_URL=postgresql://postgres:{password}@127.0.0.1:5432/app\n"),
        );
        let err = resolve(&f.ws, &Selection::Auto, &vars(&[])).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("DATABASE_URL in "), "{text}");
        assert!(text.contains(".env, line 1"), "{text}");
        assert!(!text.contains("$DATABASE_URL"), "{text}");
        assert!(!text.contains(password), "{text}");
    }
}
