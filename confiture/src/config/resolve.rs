//! Which database: the precedence rules of the module documentation of [`super`].

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use super::connection::connection_help;
use super::display_path;
use super::dotenv;
use super::environment::{
    environment_of_file_name, is_environment_name, BuiltBy, DotenvUrl, Environment, Origin,
    Selection,
};
use super::expand::is_not_utf8;
use super::suggest::closest;
use super::syntax::parse_spec;
use crate::error::{Error, Result};
use crate::ledger::TrackingTable;
use crate::workspace::{ShownFrom, Workspace};

/// How the caller spells the three ways of naming a database, for messages (`did you mean
/// --env staging?`): the library does not know the CLI's flags, the CLI passes them
/// (`cargo_confiture`'s `SELECTION_LABELS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a> {
    /// Names the database by URL ([`Selection::Url`]; the CLI's `--database-url`). Also the
    /// environment's name in the `using ...` line.
    pub url: &'a str,
    /// Names an environment ([`Selection::Env`]; `--env`).
    pub env: &'a str,
    /// Names an environment file ([`Selection::File`]; `-c`).
    pub file: &'a str,
}

impl Labels<'static> {
    /// The labels of [`resolve`], for callers without flags of their own: the calls that
    /// take a database URL, an environment name and an environment file (`give the path of a
    /// .yaml file to Migrator::from_config, or another environment name to
    /// Migrator::from_env`), where the CLI names its flags.
    pub const LIBRARY: Labels<'static> = Labels {
        url: "Migrator::from_url",
        env: "Migrator::from_env",
        file: "Migrator::from_config",
    };
}

impl Labels<'_> {
    /// The library's labels ([`Labels::LIBRARY`]) name functions, which a help writes as calls
    /// (valid Rust); any other labels are flags, written with their values.
    fn are_calls(&self) -> bool {
        *self == Labels::LIBRARY
    }

    /// Choosing the environment `name`: `--env prod`, or
    /// `Migrator::from_env(&workspace, "prod")`.
    pub fn env_named(&self, name: &str) -> String {
        match self.are_calls() {
            true => format!("{}(&workspace, {name:?})", self.env),
            false => format!("{} {name}", self.env),
        }
    }

    /// Choosing the environment file at `path`: `-c db/environments/prod.yaml` (the path
    /// quoted for a shell), or `Migrator::from_config("db/environments/prod.yaml")`.
    pub fn file_named(&self, path: &Path) -> String {
        match self.are_calls() {
            true => format!("{}({:?})", self.file, display_path(path)),
            false => format!("{} {}", self.file, crate::hint::quote_path(path)),
        }
    }

    /// The ways of naming a database, for a help that lists them: `--env NAME, -c FILE,
    /// --database-url URL`, or the three functions.
    pub fn ways(&self) -> String {
        match self.are_calls() {
            true => format!("{}, {} or {}", self.env, self.file, self.url),
            false => format!("{} NAME, {} FILE, {} URL", self.env, self.file, self.url),
        }
    }

    /// Naming an environment file by path, for a help: `-c FILE`, or the function.
    pub(crate) fn file_by_path(&self) -> String {
        match self.are_calls() {
            true => self.file.to_string(),
            false => format!("{} FILE", self.file),
        }
    }

    /// An environment file given as a pipe, for a help's example: `` `-c <(sops -d f.yaml)` ``
    /// (a shell's process substitution); `None` for the library's calls, whose caller gives a
    /// path (a pipe's too) and has no shell to write one with.
    pub(crate) fn piped_file(&self) -> Option<String> {
        (!self.are_calls()).then(|| format!("`{} <(sops -d f.yaml)`", self.file))
    }

    /// Who builds an environment with these labels ([`Environment::set_in_file`]): the
    /// library, or a command line whose flag gives an environment file.
    fn built_by(&self) -> BuiltBy {
        match self.are_calls() {
            true => BuiltBy::Library,
            false => BuiltBy::Flags(self.file.to_string()),
        }
    }

    /// Naming an environment by name, for a help: `--env NAME`, or the function.
    pub(crate) fn env_by_name(&self) -> String {
        match self.are_calls() {
            true => self.env.to_string(),
            false => format!("{} NAME", self.env),
        }
    }
}

/// Decides which database to use, by the rules in the module documentation; messages name
/// the selections with [`Labels::LIBRARY`].
pub fn resolve(
    ws: &Workspace,
    selection: &Selection,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Environment> {
    resolve_with(ws, selection, &Labels::LIBRARY, vars)
}

/// [`resolve`], with messages that name the selections as `labels` says.
pub fn resolve_with(
    ws: &Workspace,
    selection: &Selection,
    labels: &Labels<'_>,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Environment> {
    let var = |name: &str| variable(vars, name);
    let with_origin = |mut env: Environment, origin: Origin| {
        env.origin = origin;
        env.built_by = labels.built_by();
        env
    };
    match selection {
        Selection::Url(url) => Ok(with_origin(
            Environment::from_url(url, labels.url)?,
            Origin::Url,
        )),
        Selection::Env(name) => {
            let path = environment_file(ws, name, labels)?;
            let mut env = read_environment_file(ws, &path, vars, labels)?;
            env.name = name.clone();
            refuse_conflict(&env, var("CONFITURE_DATABASE_URL")?, labels.env)?;
            Ok(with_origin(env, Origin::Env))
        }
        Selection::File(path) => {
            refuse_file_of_the_root(ws, path, labels)?;
            refuse_missing_file_close_to_one(ws, path, labels)?;
            let env = read_environment_file(ws, path, vars, labels)?;
            refuse_conflict(&env, var("CONFITURE_DATABASE_URL")?, labels.file)?;
            Ok(with_origin(env, Origin::File))
        }
        Selection::Auto => {
            if let Some(url) = var("CONFITURE_DATABASE_URL")? {
                let env = Environment::from_url(&url, "CONFITURE_DATABASE_URL")?;
                return Ok(with_origin(env, Origin::ConfitureDatabaseUrl));
            }
            let default = ws
                .environments_dir()
                .join(format!("{}.yaml", ws.settings.default_env));
            if env_file_exists(ws, &default, "the default environment file", labels)? {
                let mut env = read_environment_file(ws, &default, vars, labels)?;
                env.name = ws.settings.default_env.clone();
                if env.dotenv_url.is_none() && var("DATABASE_URL")?.is_none() {
                    env.dotenv_url = passed_over(ws, vars);
                }
                return Ok(with_origin(env, Origin::DefaultEnv));
            }
            if let Some(error) = misnamed_default(ws, &default, labels) {
                return Err(error);
            }
            if let Some(url) = var("DATABASE_URL")? {
                let env = Environment::from_url(&url, "DATABASE_URL")?;
                return Ok(with_origin(env, Origin::DatabaseUrl));
            }
            let dotenv = dotenv::database_url(ws, vars, super::STREAM_WAIT)?;
            if let (Some((_, url)), Some(label)) = (&dotenv.url, dotenv.label()) {
                let mut env = Environment::from_url(url, &label)?;
                env.dotenv_url = dotenv_url(&dotenv, true);
                return Ok(with_origin(env, Origin::DotEnv));
            }
            Err(no_database(ws, labels, vars, &dotenv.set_empty))
        }
    }
}

/// An environment file read with `${DATABASE_URL}` as sqlx-cli and dbmate users mean it: the
/// environment's variable, else (not set, or blank) the `DATABASE_URL` of the nearest `.env`
/// that sets it (rule 6's `.env`, read only when the file asks for the variable): a project
/// whose `local.yaml` writes `${DATABASE_URL:-postgresql://.../app_dev}` and whose `.env`
/// names another database uses the `.env`'s, never silently the default. The `.env` overrides
/// nothing that is set. A `.env` that cannot be read is its error, as rule 6's; where the value
/// came from is kept ([`DotenvUrl`]) for the `using ...` line and the helps.
fn read_environment_file(
    ws: &Workspace,
    path: &Path,
    vars: &dyn Fn(&str) -> Option<String>,
    labels: &Labels<'_>,
) -> Result<Environment> {
    let read: OnceCell<Result<dotenv::Found>> = OnceCell::new();
    // The variable a `.env` gives: `DATABASE_URL`, unset (or empty) in the process.
    let from_dotenv =
        |name: &str| name == dotenv::VARIABLE && vars(name).is_none_or(|v| v.trim().is_empty());
    let with_dotenv = |name: &str| {
        let value = vars(name);
        if !from_dotenv(name) {
            return value;
        }
        let found = read.get_or_init(|| dotenv::database_url(ws, vars, super::STREAM_WAIT));
        match found.as_ref().ok().and_then(|found| found.url.as_ref()) {
            Some((_, url)) => Some(url.clone()),
            None => value,
        }
    };
    // The `.env`'s line, for a value the process's environment did not give: one
    // `DotenvUrl::label` for the file's errors and the connection's alike.
    let named = |name: &str| {
        let found = read.get()?.as_ref().ok()?;
        from_dotenv(name)
            .then(|| dotenv_url(found, true))
            .flatten()
            .map(|dotenv| dotenv.label)
    };
    let env = Environment::read_file(path, &with_dotenv, &named, labels);
    match read.into_inner() {
        Some(Err(error)) => Err(error),
        Some(Ok(found)) => env.map(|env| Environment {
            dotenv_url: dotenv_url(&found, true),
            ..env
        }),
        None => env,
    }
}

/// The [`DotenvUrl`] of what rule 6's `.env` files gave, if one set `DATABASE_URL`.
fn dotenv_url(found: &dotenv::Found, used: bool) -> Option<DotenvUrl> {
    let label = found.label()?;
    let (file, url) = found.url.as_ref()?;
    Some(DotenvUrl {
        label,
        url: url.clone(),
        used,
        file: super::display_path(file).into(),
        line: found.line,
    })
}

/// The `.env`'s `DATABASE_URL` that the default environment file, not using the variable,
/// passes over: for [`database_url_not_used`]'s note only, so a `.env` that cannot be read is
/// no error here (rule 6 never reads it), and a pipe is not waited for.
fn passed_over(ws: &Workspace, vars: &dyn Fn(&str) -> Option<String>) -> Option<DotenvUrl> {
    let found = dotenv::database_url(ws, vars, std::time::Duration::ZERO).ok()?;
    dotenv_url(&found, false)
}

/// The tracking table of the environment `selection` names — an environment (`Env`) or an
/// environment file (`File`), found as [`resolve_with`] finds them — for a command that reads
/// no database (the CLI's `lint`): the file's `migration.tracking_table`, read by the one
/// reading of environment files with the rest of the file left unread
/// (`Environment::read_migration_settings`), so that neither the connection's variables (a
/// password CI does not have) nor a `CONFITURE_DATABASE_URL` naming another database refuse
/// it. `None` for a selection that names no environment file (a URL, or none): the default
/// name is the one.
pub fn tracking_table_of(
    ws: &Workspace,
    selection: &Selection,
    labels: &Labels<'_>,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<TrackingTable>> {
    let path = match selection {
        Selection::Env(name) => environment_file(ws, name, labels)?,
        Selection::File(path) => {
            refuse_file_of_the_root(ws, path, labels)?;
            refuse_missing_file_close_to_one(ws, path, labels)?;
            path.clone()
        }
        Selection::Url(_) | Selection::Auto => return Ok(None),
    };
    let settings = Environment::read_migration_settings(&path, vars, labels)?;
    Ok(Some(settings.tracking_table))
}

/// The default environment's file missing while the environments directory has it under
/// another name: a name [`closest`] to it (`default_env = "locl"` beside `local.yaml`, or
/// `Local.yaml` for the default `local`), or its `.yml` spelling. A misspelling, refused: going
/// on to `DATABASE_URL` or `.env` would use another database, and the help of its absence
/// (`--create-database`) would create it. A default file simply not there (a project naming
/// its database by `DATABASE_URL`) still lets the next rule decide.
fn misnamed_default(ws: &Workspace, default: &Path, labels: &Labels<'_>) -> Option<Error> {
    let dir = ws.environments_dir();
    let name = ws.settings.default_env.as_str();
    let available = list_environments(&dir);
    let names: Vec<&str> = available.iter().map(String::as_str).collect();
    let (found, rename) = match closest(name, &names) {
        Some(close) => (dir.join(format!("{close}.yaml")), Some(close)),
        None if yml_to_rename(&dir, name).is_some() => (dir.join(format!("{name}.yml")), None),
        None => return None,
    };
    let chosen = match ws.settings.default_env_from {
        Some(from) => format!(
            "the default environment is `{name}`: {} sets it",
            ws.setting_shown("default_env", from, ShownFrom::CurrentDir)
        ),
        None => format!("the default environment is `{name}`: no `default_env` is set"),
    };
    let fix = match (rename, ws.settings.default_env_from) {
        (Some(close), Some(_)) => format!(
            "did you mean `{close}`? set `default_env = \"{close}\"`, or rename {} to {}",
            display_path(&found),
            display_path(default)
        ),
        (Some(close), None) => format!(
            "did you mean {}? rename {} to {}",
            labels.env_named(close),
            display_path(&found),
            display_path(default)
        ),
        (None, _) => format!(
            "rename {} to {}: environment files end in .yaml",
            display_path(&found),
            display_path(default)
        ),
    };
    Some(
        Error::invalid(format!(
            "the default environment file {} does not exist, but {} does",
            display_path(default),
            display_path(&found)
        ))
        .with_detail(chosen)
        .with_detail(
            "the database is not taken from DATABASE_URL or .env instead: that may be another \
             one",
        )
        .with_help(format!("{fix}; or name the database ({})", labels.ways())),
    )
}

/// A relative environment file path that is not there from the current directory but is from
/// the workspace root (`-c db/environments/staging.yaml` typed in `src/`): refused naming the
/// path that reaches it from here, and `--env NAME` when it is one of the environments
/// directory's files. "Does not exist, check the path" alone leaves the user to find out that
/// the path is relative to where they stand.
fn refuse_file_of_the_root(ws: &Workspace, path: &Path, labels: &Labels<'_>) -> Result<()> {
    let Ok(cwd) = std::env::current_dir() else {
        return Ok(());
    };
    let Some(at_root) = ws
        .there_from_the_root(path, &cwd)
        .filter(|file| file.is_file())
    else {
        return Ok(());
    };
    let here = crate::display::current_dir(&cwd);
    let name = at_root
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(environment_of_file_name)
        .filter(|_| at_root.parent() == Some(ws.environments_dir().as_path()));
    let or_env = name.map_or_else(String::new, |name| {
        format!(", or `{}`", labels.env_named(name))
    });
    Err(Error::invalid(format!(
        "environment file {} does not exist in `{here}`: the path given to {} is relative to \
         the current directory",
        crate::display::path(path),
        labels.file
    ))
    .with_help(format!(
        "the workspace root has it: from here it is `{}`{or_env}",
        labels.file_named(Path::new(&display_path(&at_root)))
    )))
}

/// A `-c` path that is not there, when what it meant is (the one did-you-mean of every name,
/// as `--env`'s): an environment's name given as a path (`-c staging`, `-c staging.yaml`, or
/// `staging.yml` in the environments directory), whose file the environments directory has, is
/// `--env staging` — never for a path of another directory, which may have meant another
/// database; a file name close to a `.yaml` file beside it (`-c db/environments/stagin.yaml`)
/// is that file. Anything else is the reader's plain "does not exist"; a connection string is
/// never shown.
fn refuse_missing_file_close_to_one(
    ws: &Workspace,
    path: &Path,
    labels: &Labels<'_>,
) -> Result<()> {
    let missing = matches!(
        std::fs::symlink_metadata(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(());
    };
    if !missing || super::names_a_connection(&path.to_string_lossy()) {
        return Ok(());
    }
    let dir = ws.environments_dir();
    let stem = environment_of_file_name(name).unwrap_or(name);
    let as_env = dir.join(format!("{stem}.yaml"));
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    // A bare name, or one in the environments directory itself: never a file of another
    // directory, which may have meant another database.
    let in_envs = parent.is_none_or(|p| p.canonicalize().ok() == dir.canonicalize().ok());
    let help = if in_envs && is_environment_name(stem) && as_env.is_file() {
        format!(
            "did you mean `{}`? (it reads {})",
            labels.env_named(stem),
            display_path(&as_env)
        )
    } else {
        let listed = list_environments(parent.unwrap_or(Path::new(".")));
        let names: Vec<&str> = listed.iter().map(String::as_str).collect();
        let Some(close) = closest(stem, &names) else {
            return Ok(());
        };
        let file = match parent {
            Some(parent) => parent.join(format!("{close}.yaml")),
            None => PathBuf::from(format!("{close}.yaml")),
        };
        format!("did you mean `{}`?", labels.file_named(&file))
    };
    Err(Error::invalid(format!(
        "environment file {} does not exist",
        display_path(path)
    ))
    .with_help(help))
}

/// Whether an environment file (`what`: the default one, or the one `--env` names) is there
/// to be read. Only "not there at all" is `false` (the default one then lets the next way of
/// naming a database decide; `--env` lists the environments): a file that is there but cannot
/// be used — a broken symbolic link, a directory that may not be searched — is an error naming
/// it, and a directory or an unreadable file is `true`, for reading it to say which.
fn env_file_exists(ws: &Workspace, path: &Path, what: &str, labels: &Labels<'_>) -> Result<bool> {
    let shown = display_path(path);
    let help = format!(
        "fix or remove {shown}, or name the database another way ({})",
        labels.ways()
    );
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(_) if environments_dir_is_a_file(ws) => Err(environments_dir_refusal(ws, labels)),
        Err(e) => Err(
            Error::invalid(format!("cannot tell whether {what} {shown} exists"))
                .with_source(e)
                .with_help(help),
        ),
        Ok(meta) if meta.file_type().is_symlink() && !path.exists() => {
            Err(Error::invalid(format!("{what} {shown} is a broken symbolic link")).with_help(help))
        }
        // A directory or an unreadable file: reading it says which.
        Ok(_) => Ok(true),
    }
}

/// Whether the environments directory is a file (`environments_dir = "Cargo.toml"`): every
/// environment file "in" it fails with "Not a directory", which names neither the setting nor
/// the file.
fn environments_dir_is_a_file(ws: &Workspace) -> bool {
    std::fs::metadata(ws.environments_dir()).is_ok_and(|meta| !meta.is_dir())
}

/// The refusal of an environments directory that is a file: the setting that names it
/// (`Cargo.toml:LINE`), or the default's place.
fn environments_dir_refusal(ws: &Workspace, labels: &Labels<'_>) -> Error {
    let dir = display_path(&ws.environments_dir());
    let (named, set) = match ws.settings.environments_dir_from {
        Some(from) => (
            ws.setting_shown("environments_dir", from, ShownFrom::CurrentDir),
            "set it".to_string(),
        ),
        None => (
            "the default environments directory (no `environments_dir` is set)".to_string(),
            format!(
                "set `environments_dir` in {}",
                crate::workspace::SETTINGS_TABLES
            ),
        ),
    };
    Error::invalid(format!("{named} names {dir}, a file, not a directory")).with_help(format!(
        "{set} to the directory of the environment files (for example `environments_dir = \
         \"db/environments\"`), or name the database another way ({})",
        labels.ways()
    ))
}

/// A variable of `vars`, empty counting as unset; one that is not UTF-8 is an error.
fn variable(vars: &dyn Fn(&str) -> Option<String>, name: &str) -> Result<Option<String>> {
    match vars(name).filter(|v| !v.trim().is_empty()) {
        Some(value) if is_not_utf8(&value) => Err(Error::invalid(format!(
            "the {name} environment variable is not valid UTF-8"
        ))
        .with_help(format!(
            "set {name} to a postgresql:// URL in UTF-8, or unset it"
        ))),
        other => Ok(other),
    }
}

/// `no database configured`, with every way of naming one in the order they are tried, and
/// the variables that were set to nothing but blanks ([`variable`] takes them as unset; the
/// `.env` at `dotenv_empty`, when its `DATABASE_URL` is): a CI secret not defined for the
/// branch expands to "", and the list alone would name, as a way not taken, the variable the
/// user did set.
fn no_database(
    ws: &Workspace,
    labels: &Labels<'_>,
    vars: &dyn Fn(&str) -> Option<String>,
    dotenv_empty: &[PathBuf],
) -> Error {
    let envs = display_path(&ws.environments_dir());
    let Labels { url, env, file } = labels;
    let empty: Vec<&str> = ["CONFITURE_DATABASE_URL", "DATABASE_URL"]
        .into_iter()
        .filter(|name| vars(name).is_some_and(|v| v.trim().is_empty()))
        .collect();
    let mut error = Error::invalid("no database configured");
    for name in empty {
        error = error.with_detail(format!(
            "{name} is set but empty, which counts as unset: give it the database's URL \
             (a CI secret not defined for this branch or environment expands to nothing)"
        ));
    }
    for path in dotenv_empty {
        error = error.with_detail(format!(
            "DATABASE_URL in {} is set but empty, which counts as unset: give it the \
             database's URL",
            display_path(path)
        ));
    }
    error
        .with_detail("name one in any of these ways (the first found wins):")
        .with_detail(format!("  1. {url} postgresql://user@host:5432/dbname"))
        .with_detail(format!(
            "  2. {env} NAME (reads {envs}/NAME.yaml), or {file} FILE"
        ))
        .with_detail("  3. the CONFITURE_DATABASE_URL environment variable")
        .with_detail(format!(
            "  4. the default environment file {envs}/{}.yaml",
            ws.settings.default_env
        ))
        .with_detail("  5. the DATABASE_URL environment variable")
        .with_detail(format!(
            "  6. DATABASE_URL in the nearest of these `.env` files that sets it: {}",
            dotenv::paths(ws)
                .iter()
                .map(|path| display_path(path))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_help(
            match (above_help(ws, None, labels), environments_beside(ws)) {
                (Some(above), _) => above,
                (None, Some(beside)) => beside,
                (None, None) => format!(
                    "for a project, create {envs}/{}.yaml with `database_url: postgresql://...`",
                    ws.settings.default_env
                ),
            },
        )
}

/// [`Workspace::project_above_help_reading`] with the environment file named as `labels`
/// name one (`-c FILE`), in place of `--env NAME` when one was given (they conflict).
fn above_help(ws: &Workspace, env: Option<&str>, labels: &Labels<'_>) -> Option<String> {
    let help = ws.project_above_help_reading(env, |file| labels.file_named(file))?;
    Some(match env {
        Some(name) => format!("{help} in place of {}", labels.env_named(name)),
        None => help,
    })
}

/// The help of an environments directory that does not exist while a directory of the same
/// name elsewhere in the workspace holds environment files (`./environments` for
/// `db/environments`): the setting that reads it, or moving them. `None` otherwise.
fn environments_beside(ws: &Workspace) -> Option<String> {
    let dir = ws.environments_dir();
    if dir.exists() {
        return None;
    }
    let leaf = dir.file_name()?;
    let candidates = [
        ws.root.join(leaf),
        ws.root.join("db").join(leaf),
        ws.start.join(leaf),
    ];
    let (found, names) = candidates
        .iter()
        .filter(|candidate| **candidate != dir)
        .find_map(|candidate| {
            let names = list_environments(candidate);
            (!names.is_empty()).then_some((candidate, names))
        })?;
    // The setting's value is relative to the workspace root, which a member's own table
    // does not take: only the move is said there.
    let set = match (&ws.package_manifest, found.strip_prefix(&ws.root)) {
        (None, Ok(relative)) => format!(
            "set `environments_dir = {:?}` in {}, or ",
            crate::display::path_text(relative),
            crate::workspace::SETTINGS_TABLES
        ),
        _ => String::new(),
    };
    Some(format!(
        "{} does not exist, but {} holds environment files ({}): {set}move them to {}",
        display_path(&dir),
        display_path(found),
        names.join(", "),
        display_path(&dir)
    ))
}

/// `<environments_dir>/<name>.yaml`, or an error listing the environments that exist.
fn environment_file(ws: &Workspace, name: &str, labels: &Labels<'_>) -> Result<PathBuf> {
    let dir = ws.environments_dir();
    // `--env $DATABASE_URL`: a connection string, never shown (it may hold a password).
    if super::names_a_connection(name) {
        return Err(super::connection_given_as(
            super::InPlaceOf::Name {
                what: "environment name",
                given_to: labels.env,
            },
            format!(
                "give a database URL with {}, or the name of a file in {} without `.yaml`",
                labels.url,
                display_path(&dir)
            ),
        ));
    }
    // A file name given for the environment's (`prod.yaml`, `prod.yml`): the help names the
    // environment it would be, when that is a name.
    let stem = environment_of_file_name(name);
    if stem.is_some() || !is_environment_name(name) {
        let mut error =
            Error::invalid(format!("invalid environment name {name:?}")).with_help(format!(
                "give the name of a file in {} without `.yaml` (e.g. {}), \
                 or a path with {}",
                display_path(&dir),
                labels.env_named(stem.unwrap_or("staging")),
                labels.file_by_path()
            ));
        if let Some(detail) = stem.and_then(|stem| yml_to_rename(&dir, stem)) {
            error = error.with_detail(detail);
        }
        return Err(error);
    }
    let path = dir.join(format!("{name}.yaml"));
    // A directory or a file that cannot be read is the reader's to name, not "not found".
    if env_file_exists(ws, &path, "the environment file", labels)? {
        return Ok(path);
    }
    let available = list_environments(&dir);
    let mut error = Error::invalid(format!(
        "environment {name:?} not found: there is no {}",
        display_path(&path)
    ));
    error = if let Some(above) = above_help(ws, Some(name), labels) {
        error.with_help(above)
    } else if let Some(beside) = environments_beside(ws) {
        error.with_help(beside)
    } else if available.is_empty() {
        error.with_help(format!(
            "{} holds no environment files; create {} with `database_url: postgresql://...`",
            display_path(&dir),
            display_path(&path)
        ))
    } else {
        let names: Vec<&str> = available.iter().map(String::as_str).collect();
        let suggestion = match closest(name, &names) {
            Some(close) => format!("did you mean {}? ", labels.env_named(close)),
            None => String::new(),
        };
        error.with_help(format!(
            "{suggestion}available environments: {}",
            available.join(", ")
        ))
    };
    if let Some(detail) = yml_to_rename(&dir, name) {
        error = error.with_detail(detail);
    }
    Err(error)
}

/// The line saying to rename `<name>.yml` to `<name>.yaml`, when only the first is in `dir`.
fn yml_to_rename(dir: &Path, name: &str) -> Option<String> {
    let yaml = dir.join(format!("{name}.yaml"));
    (dir.join(format!("{name}.yml")).is_file() && !yaml.exists()).then(|| {
        format!("{name}.yml exists: environment files end in .yaml; rename it to {name}.yaml")
    })
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

/// An explicit file and a `CONFITURE_DATABASE_URL` naming another database: we never guess.
fn refuse_conflict(env: &Environment, url: Option<String>, label: &str) -> Result<()> {
    let Some(url) = url else { return Ok(()) };
    let other = parse_spec(&url).map_err(|reason| {
        Error::invalid(format!(
            "invalid database URL in CONFITURE_DATABASE_URL: {reason}"
        ))
        .with_help(connection_help(&url))
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
        "unset CONFITURE_DATABASE_URL to use the file, or drop {label} to use the variable"
    )))
}

/// The note of a `DATABASE_URL` that the default environment file (`env`, resolved by
/// [`resolve`] with no selection: [`Origin::DefaultEnv`]) outranks while it names another
/// database: `None` when it is unset, names the same database (a file writing
/// `database_url: ${DATABASE_URL}` uses it), or another way chose the database. Not an error,
/// as an explicit file's is (`refuse_conflict`): the precedence is documented, and a project
/// exporting `DATABASE_URL` for its application keeps working; but a user of sqlx-cli or
/// dbmate exporting it to aim `up` at another database must not migrate the file's silently.
/// A `DATABASE_URL` that does not parse is not used either: said the same way.
pub fn database_url_not_used(
    env: &Environment,
    vars: &dyn Fn(&str) -> Option<String>,
    labels: &Labels<'_>,
) -> Option<String> {
    if env.origin != Origin::DefaultEnv {
        return None;
    }
    let exported = variable(vars, "DATABASE_URL").ok()?;
    let dotenv = (env.dotenv_url.as_ref()).filter(|dotenv| exported.is_none() && !dotenv.used);
    let url = exported.or_else(|| dotenv.map(|dotenv| dotenv.url.clone()))?;
    if parse_spec(&url).is_ok_and(|other| other.same_database(&env.connection)) {
        return None;
    }
    let file = env
        .file
        .as_deref()
        .map_or_else(|| "the default environment file".to_string(), display_path);
    // The `.env`'s is no variable of the shell: `--database-url "$DATABASE_URL"` would not
    // give it.
    let (set, flag) = match dotenv {
        Some(dotenv) => (dotenv.label.clone(), String::new()),
        None => (
            "DATABASE_URL".to_string(),
            format!("{} \"$DATABASE_URL\", or ", labels.url),
        ),
    };
    Some(format!(
        "note: {set} is set but not used: {file} takes precedence (to use it: \
         {flag}`database_url: ${{DATABASE_URL:-...}}` in {file})"
    ))
}
