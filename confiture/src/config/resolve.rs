//! Which database: the precedence rules of the module documentation of [`super`].

use std::path::{Path, PathBuf};

use super::connection::CONNECTION_HELP;
use super::display_path;
use super::environment::{is_not_utf8, Environment, Origin, Selection};
use super::suggest::closest;
use super::syntax::parse_spec;
use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// Decides which database to use, by the rules in the module documentation.
pub fn resolve(
    ws: &Workspace,
    selection: &Selection,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Environment> {
    let var = |name: &str| -> Result<Option<String>> {
        match vars(name).filter(|v| !v.trim().is_empty()) {
            Some(value) if is_not_utf8(&value) => Err(Error::invalid(format!(
                "the {name} environment variable is not valid UTF-8"
            ))
            .with_help(format!(
                "set {name} to a postgresql:// URL in UTF-8, or unset it"
            ))),
            other => Ok(other),
        }
    };
    match selection {
        Selection::Url(url) => {
            let mut env = Environment::from_url(url, "--database-url")?;
            env.origin = Origin::UrlFlag;
            Ok(env)
        }
        Selection::Env(name) => {
            let path = environment_file(ws, name)?;
            let mut env = Environment::from_file(&path, vars)?;
            env.name = name.clone();
            env.origin = Origin::EnvFlag;
            refuse_conflict(&env, var("CONFITURE_DATABASE_URL")?, "--env")?;
            Ok(env)
        }
        Selection::File(path) => {
            let mut env = Environment::from_file(path, vars)?;
            env.origin = Origin::ConfigFlag;
            refuse_conflict(&env, var("CONFITURE_DATABASE_URL")?, "-c")?;
            Ok(env)
        }
        Selection::Auto => {
            if let Some(url) = var("CONFITURE_DATABASE_URL")? {
                let mut env = Environment::from_url(&url, "CONFITURE_DATABASE_URL")?;
                env.origin = Origin::ConfitureDatabaseUrl;
                return Ok(env);
            }
            let default = ws
                .environments_dir()
                .join(format!("{}.yaml", ws.settings.default_env));
            if default.is_file() {
                let mut env = Environment::from_file(&default, vars)?;
                env.name = ws.settings.default_env.clone();
                env.origin = Origin::DefaultEnv;
                return Ok(env);
            }
            if let Some(url) = var("DATABASE_URL")? {
                let mut env = Environment::from_url(&url, "DATABASE_URL")?;
                env.origin = Origin::DatabaseUrl;
                return Ok(env);
            }
            let envs = display_path(&ws.environments_dir());
            Err(Error::invalid("no database configured")
                .with_detail("name one in any of these ways (the first found wins):")
                .with_detail("  1. --database-url postgresql://user@host:5432/dbname")
                .with_detail(format!(
                    "  2. --env NAME (reads {envs}/NAME.yaml), or -c FILE"
                ))
                .with_detail("  3. the CONFITURE_DATABASE_URL environment variable")
                .with_detail(format!(
                    "  4. the default environment file {envs}/{}.yaml",
                    ws.settings.default_env
                ))
                .with_detail("  5. the DATABASE_URL environment variable")
                .with_help(format!(
                    "for a project, create {envs}/{}.yaml with `database_url: postgresql://...`",
                    ws.settings.default_env
                )))
        }
    }
}

/// `<environments_dir>/<name>.yaml`, or an error listing the environments that exist.
fn environment_file(ws: &Workspace, name: &str) -> Result<PathBuf> {
    let dir = ws.environments_dir();
    if name.is_empty()
        || name.starts_with('.')
        || name.contains(['/', '\\', '\0'])
        || name.ends_with(".yaml")
    {
        return Err(
            Error::invalid(format!("invalid environment name {name:?}")).with_help(format!(
                "give the name of a file in {} without `.yaml` (e.g. --env staging), \
                 or a path with -c FILE",
                display_path(&dir)
            )),
        );
    }
    let path = dir.join(format!("{name}.yaml"));
    if path.is_file() {
        return Ok(path);
    }
    let available = list_environments(&dir);
    let mut error = Error::invalid(format!(
        "environment {name:?} not found: there is no {}",
        display_path(&path)
    ));
    error = if available.is_empty() {
        error.with_help(format!(
            "{} holds no environment files; create {} with `database_url: postgresql://...`",
            display_path(&dir),
            display_path(&path)
        ))
    } else {
        let names: Vec<&str> = available.iter().map(String::as_str).collect();
        let suggestion = match closest(name, &names) {
            Some(close) => format!("did you mean --env {close}? "),
            None => String::new(),
        };
        error.with_help(format!(
            "{suggestion}available environments: {}",
            available.join(", ")
        ))
    };
    if dir.join(format!("{name}.yml")).is_file() {
        error = error.with_detail(format!(
            "{name}.yml exists: environment files end in .yaml; rename it to {name}.yaml"
        ));
    }
    Err(error)
}

/// Names of the `*.yaml` files in `dir`, sorted; empty when the directory is missing.
pub fn list_environments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let name = file_name.to_str()?.strip_suffix(".yaml")?.to_string();
            (!name.is_empty() && entry.path().is_file()).then_some(name)
        })
        .collect();
    names.sort();
    names
}

fn refuse_conflict(env: &Environment, url: Option<String>, flag: &str) -> Result<()> {
    let Some(url) = url else { return Ok(()) };
    let other = parse_spec(&url).map_err(|reason| {
        Error::invalid(format!(
            "invalid database URL in CONFITURE_DATABASE_URL: {reason}"
        ))
        .with_help(CONNECTION_HELP)
    })?;
    if other.same_database(&env.connection) {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "two databases named: {} names {}, but CONFITURE_DATABASE_URL names {}",
        env.source(),
        env.connection,
        other
    ))
    .with_help(format!(
        "unset CONFITURE_DATABASE_URL to use the file, or drop {flag} to use the variable"
    )))
}
