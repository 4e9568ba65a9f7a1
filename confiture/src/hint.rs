//! Commands suggested in help lines. The library writes every suggestion through [`command`],
//! so that each has one form, `` `cargo confiture <ARGS>` ``; a renderer that knows how the user
//! chose the database ([`Invocation`]) repeats that choice in each of them, so that pasting the
//! suggestion acts on the same database (`--env dev`, never another one by default).

use std::borrow::Cow;
use std::path::Path;

use crate::config::{ConnectionSpec, Environment, MigrationSettings};
#[cfg(feature = "db")]
use crate::error::Error;
#[cfg(feature = "db")]
use crate::migrator::ReportedError;

/// How the command line is invoked; the start of every suggested command.
pub const PROGRAM: &str = "cargo confiture";

/// A suggested command, `` `cargo confiture <args>` ``: `command("migrate status")`.
pub fn command(args: &str) -> String {
    format!("`{PROGRAM} {args}`")
}

/// How confiture (Python)'s command line is invoked: the start of every command of it a help
/// suggests ([`python_command`]).
pub const PYTHON_PROGRAM: &str = "confiture";

/// A suggested command of confiture (Python), `` `confiture <args>` ``:
/// `python_command("migrate down-to 002")`. A renderer that knows how this run chose its
/// database and migrations adds them as confiture (Python) takes them ([`Invocation::python`]).
pub fn python_command(args: &str) -> String {
    format!("`{PYTHON_PROGRAM} {args}`")
}

/// The arguments of a suggested command ([`command`]'s): `subcommand` (`migrate up`), its
/// `bound` (`--target 003`, `--steps 2 --yes`; empty for none), each of `flags` that is on but
/// `also`, then `also`, the flag the help asks for. The one writer of the flags a suggestion
/// repeats from the request that suggests it ([`crate::plan::UpRequest::repeated_flags`],
/// [`crate::plan::DownRequest::repeated_flags`]). `--dry-run` is never among `flags`: the run
/// being a preview is the invocation's ([`Invocation::dry_run`]), which adds it to every
/// suggested command that takes it, whoever wrote the command — `up`, `down` and the others
/// alike, from the command line and from a library session's preview.
pub fn args(
    subcommand: &str,
    bound: &str,
    flags: &[(&'static str, bool)],
    also: Option<&str>,
) -> String {
    let repeated = flags
        .iter()
        .filter(|(flag, on)| *on && also != Some(*flag))
        .map(|(flag, _)| *flag);
    [subcommand, bound]
        .into_iter()
        .chain(repeated)
        .chain(also)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The subcommands that read only files: they repeat `--migrations-dir`, not the database.
const FILES_ONLY: &[&str] = &["lint", "migrate generate"];

/// The subcommands that write and take `--dry-run`: in a preview's text they get it too
/// ([`Invocation::dry_run`]).
const TAKE_DRY_RUN: &[&str] = &[
    "migrate up",
    "migrate down",
    "migrate baseline",
    "migrate reinit",
    "migrate abandon",
    "migrate generate",
];

/// The subcommands that take a fleet's list (`--targets FILE`, ...).
const TAKE_A_LIST: &[&str] = &[
    "migrate up",
    "migrate down",
    "migrate status",
    "migrate verify",
    "migrate drift",
];

/// The subcommands that take no fleet's list but a list of one target (`--targets FILE`,
/// `--targets-query SQL` or `--schemas-query SQL` naming one database or tenant schema): they
/// write one ledger. Suggested in one target's text, they select a database listed by name as
/// `up` and `down` do, by the run's selection and a list of that name alone (`--env prod
/// --targets <(echo tenant_7)`), which keeps the environment's credentials and settings, and a
/// tenant schema by `--schema NAME`; elsewhere they never get the fleet's list, which names
/// more than one.
const TAKE_ONE_TARGET: &[&str] = &["migrate baseline", "migrate reinit", "migrate abandon"];

/// The subcommands that take a list but, suggested in one target's text, act on that target
/// alone: they write, so pasted with the fleet's list a `down` would roll back the targets that
/// finished once more (and its `--steps N` is that target's count, not the others'), and an
/// `up` suggested by a read-only run (`status`'s "create it": `up --create-database`) would
/// migrate every other target of the list. The read-only ones (`status`, `verify`, `drift`)
/// keep the list.
const AGAIN_ON_EVERY_TARGET: &[&str] = &["migrate up", "migrate down"];

/// How a help tells to run the failed command once more, as a sentence rather than a
/// suggested command (`fix FILE, then run the command again`): the command is the one the
/// user typed, whatever it was. In one target's text of a fleet ([`Invocation::for_target`])
/// the command is the fleet's, which run again acts on every target of its list (a `down`
/// rolls back the finished ones once more): the renderer says to run it on that target alone
/// and names how to select it ([`Invocation::render`]).
pub const AGAIN: &str = "the command again";

/// `text` with each [`AGAIN`] replaced by the suggested command `args` ([`command`]): for a
/// run that stopped midway through what it was asked, whose command run again would do more
/// than was asked (a `down --steps N` that rolled back part of its N rolls back N more), the
/// command that finishes it instead (`plan::finishing_command`). The bare command of its
/// direction suggested as is (`` `cargo confiture migrate up` ``, which would apply every
/// pending migration) is replaced too. A text with neither gets the command as a sentence of
/// its own, after its end.
#[cfg(feature = "db")]
pub(crate) fn finishing(text: &str, args: &str, what: &str) -> String {
    let suggested = command(args);
    let direction = args.split(" --").next().unwrap_or_default();
    let unbounded = unbounded_commands(text, direction);
    if !text.contains(AGAIN) && unbounded.is_empty() {
        return format!(
            "{text}; to finish {what}, run {suggested} (the same command again would do more)"
        );
    }
    bounded(&text.replace(AGAIN, &suggested), args)
}

/// `text` with each unbounded command of `args`' direction it suggests
/// ([`unbounded_commands`]: `` `cargo confiture migrate up --create-database` ``) replaced by
/// `args` (`migrate up --target 002`, the request's bound) with that command's own flags after
/// it (`--create-database`: what the help is about): for a limited request, the suggestion
/// then does what it asked, and no more.
#[cfg(feature = "db")]
pub(crate) fn bounded(text: &str, args: &str) -> String {
    let direction = args.split(" --").next().unwrap_or_default();
    let mut out = text.to_string();
    for (written, flags) in unbounded_commands(text, direction) {
        let mut finish = args.to_string();
        for flag in flags.split(' ').filter(|f| !f.is_empty()) {
            if !finish.split(' ').any(|w| w == flag) {
                finish.push(' ');
                finish.push_str(flag);
            }
        }
        out = out.replace(&written, &command(&finish));
    }
    out
}

/// The commands suggested in `text` that run `direction` (`migrate up`) with no bound — no
/// `--target` nor `--steps`, only flags that take no value (`--allow-non-empty`,
/// `--create-database`) — each with those flags: for a limited request, each would do more
/// than it asked. Whole, as written (`` `cargo confiture migrate up --allow-non-empty` ``).
#[cfg(feature = "db")]
pub(crate) fn unbounded_commands(text: &str, direction: &str) -> Vec<(String, String)> {
    let opening = format!("`{PROGRAM} {direction}");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&opening) {
        let after = &rest[start + opening.len()..];
        let Some(end) = after.find('`') else {
            break;
        };
        let flags = &after[..end];
        let only_flags = flags.is_empty()
            || (flags.starts_with(' ')
                && flags
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .all(|w| w.starts_with("--") && !BOUNDS.contains(&w)));
        if only_flags {
            found.push((format!("{opening}{flags}`"), flags.trim().to_string()));
        }
        rest = &after[end + 1..];
    }
    found
}

/// `text` for a run stopped midway through a `--steps N` when no command finishes exactly the
/// rest (`plan::finishing_command` found none: a migration applied out of order among the
/// planned ones, so no `--target` reaches exactly them): each [`AGAIN`], and the bare command
/// of the direction `args` names (`migrate down`), becomes `migrate status` — the same
/// `--steps N` again would count from where it stopped and do N more. A text with neither gets
/// that as a sentence of its own.
#[cfg(feature = "db")]
pub(crate) fn unfinishable(text: &str, direction: &str, what: &str) -> String {
    let instead = format!(
        "{} to see what is left of {what} (the same command again would do more than that)",
        command("migrate status")
    );
    let unbounded = unbounded_commands(text, direction);
    if !text.contains(AGAIN) && unbounded.is_empty() {
        return format!("{text}; run {instead}");
    }
    let mut out = text.replace(AGAIN, &instead);
    for (written, _) in unbounded {
        out = out.replace(&written, &instead);
    }
    out
}

/// Every option the library's texts name by its command-line flag: the flag, the field of the
/// options types that have it, and those types. **The one map of flag to option**: a library
/// session's errors name the field (`migrate::options::name_fields`), the command line's the flag, and an environment file's `migration:` key named as an option is refused (`config::file`).
#[cfg(feature = "env-files")]
pub(crate) const OPTION_FLAGS: &[(&str, &str, &[&str])] = &[
    (
        "--yes",
        "yes",
        &["DownOptions", "BaselineOptions", "ReinitOptions"],
    ),
    ("--steps", "steps", &["UpOptions", "DownOptions"]),
    ("--target", "target", &["UpOptions", "DownOptions"]),
    (
        "--lock-wait",
        "lock_wait",
        &[
            "UpOptions",
            "DownOptions",
            "BaselineOptions",
            "ReinitOptions",
            "AbandonOptions",
            "StatusOptions",
            "DriftOptions",
        ],
    ),
    (
        "--lock-timeout-statement",
        "lock_timeout_statement",
        &["UpOptions", "DownOptions", "VerifyOptions", "DriftOptions"],
    ),
    (
        "--statement-timeout",
        "statement_timeout",
        &["UpOptions", "DownOptions", "VerifyOptions", "DriftOptions"],
    ),
    ("--allow-out-of-order", "allow_out_of_order", &["UpOptions"]),
    ("--allow-destructive", "allow_destructive", &["UpOptions"]),
    (
        "--allow-newer-database",
        "allow_newer_database",
        &["UpOptions"],
    ),
    ("--allow-non-empty", "allow_non_empty", &["UpOptions"]),
    (
        "--rerun-interrupted",
        "rerun_interrupted",
        &["UpOptions", "DownOptions"],
    ),
    ("--allow-modified", "allow_modified", &["DownOptions"]),
    (
        "--dry-run",
        "dry_run",
        &[
            "UpOptions",
            "DownOptions",
            "BaselineOptions",
            "ReinitOptions",
            "AbandonOptions",
        ],
    ),
    ("--single-transaction", "single_transaction", &["UpOptions"]),
    ("--create-database", "create_database", &["UpOptions"]),
    (
        "--through",
        "through",
        &["BaselineOptions", "ReinitOptions"],
    ),
    ("--from", "from", &["VerifyOptions"]),
    (
        "--scratch-url",
        "scratch",
        &["VerifyOptions", "DriftOptions"],
    ),
    ("--schema-dir", "schema_dir", &["DriftOptions"]),
    // A setting of the whole session, not of one command's options: its builder method.
    ("--wait-for-server", "wait_for_server", &[SESSION]),
    // A setting of a whole fleet: its builder method (`Fleet::jobs(2)`).
    ("--jobs", "jobs", &[FLEET]),
];

/// The type of [`OPTION_FLAGS`]' settings of a whole session, which every command's text
/// names as its builder method (`Migrator::wait_for_server(Duration::from_secs(60))`).
#[cfg(feature = "env-files")]
pub(crate) const SESSION: &str = "Migrator";

/// The type of [`OPTION_FLAGS`]' settings of a whole fleet, which a library fleet's texts
/// name as its builder method (`Fleet::jobs(2)`): an environment file sets them in its
/// `fleet:` block, never as a `migration:` key.
#[cfg(feature = "env-files")]
pub(crate) const FLEET: &str = "Fleet";

/// The flags that bound an `up` or a `down` (each takes a value): a suggested command with
/// one does only what it says.
#[cfg(feature = "db")]
const BOUNDS: &[&str] = &["--target", "--steps"];

/// What follows [`AGAIN`] in one target's text of a fleet, before the target's selection.
const AGAIN_ON_THIS_TARGET: &str = " on this target alone (select it with ";

/// The flag that names one tenant schema of the selected database, as a fleet's
/// `--schemas-query` names each of its tenants.
pub const SCHEMA_FLAG: &str = "--schema";

/// `migrate verify`, as a help names it: the one command of a scratch database that takes
/// `--from`.
pub(crate) const VERIFY: &str = "migrate verify";

/// Whether `args` (what follows `cargo confiture `) starts with one of `commands`.
fn is_one_of(args: &str, commands: &[&str]) -> bool {
    commands
        .iter()
        .any(|c| args == *c || args.starts_with(&format!("{c} ")))
}

/// The arguments of this run that every suggested command must repeat: how the database was
/// chosen (`--env dev`, `-c FILE`, `--database-url <URL>` — a placeholder, never the URL, which
/// may hold a password) and which migrations directory (`--migrations-dir DIR`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// For commands that connect: `["--env", "dev"]`.
    pub database: Vec<String>,
    /// For every command: `["--migrations-dir", "sql"]`.
    pub files: Vec<String>,
    /// A fleet's list, after the database for the commands that take one:
    /// `["--targets", "tenants.txt"]`. The others (`reinit`, `baseline`) act on one target:
    /// they get that target's words ([`Invocation::target`]: a list of its name alone), else
    /// `--database-url <URL>`, instead of the run's selection, which would name another
    /// database.
    pub fleet: Vec<String>,
    /// Set while one target's text of a fleet is rendered (its error's help, its report):
    /// how the commands acting on one target — and `migrate down` (`AGAIN_ON_EVERY_TARGET`) —
    /// address that target alone ([`Invocation::for_target`]).
    pub target: Option<OneTarget>,
    /// The one target a list of one target chose for this run (`baseline`/`reinit`
    /// `--targets-query SQL`, `--schemas-query SQL`, a list read from a pipe): every suggested
    /// command that connects addresses it as a fleet target's text addresses that target
    /// (`--schema NAME`, a list of its name alone, else `--database-url <URL>`), never by the
    /// list — `<SQL>` and `<LIST>` cannot be pasted, and a query run again may return another
    /// target ([`Invocation::choosing`]).
    pub chosen: Option<OneTarget>,
    /// The settings of a fleet's environment that `--database-url <URL>` does not carry (it
    /// reads no environment file): said after each suggested command that addresses one
    /// database of the fleet that way ([`Invocation::with_settings_of`]). Empty when the
    /// environment sets none.
    pub url_drops: Vec<&'static str>,
    /// The connection settings of that environment (`sslmode`, its TLS files, ...) that a URL
    /// written for one of its databases listed by name carries only when written in it
    /// (`connection_settings_a_url_drops`): said with [`Invocation::url_drops`], except for
    /// a target listed by its own URL, which never had them.
    pub url_drops_connection: Vec<&'static str>,
    /// The run was a preview (`--dry-run`): every suggested command that writes and takes
    /// `--dry-run` (`up`, `down`, `baseline`, `reinit`, `abandon`, `generate`) gets it too, so that pasting a preview's suggestion
    /// previews what it would do (a `down --steps 20 --dry-run` refused for going past the
    /// applied migrations suggested `migrate down --target 0 --yes`, which rolled back every
    /// migration for real). The one owner of `--dry-run` in suggestions: the commands' own
    /// flags ([`args`]) never include it. A library session sets it for the command that is a
    /// preview (`UpOptions::dry_run`, ...), as the command line sets it for `--dry-run`.
    pub dry_run: bool,
    /// What every suggested confiture (Python) command ([`python_command`]) repeats so that it
    /// acts on this run's database and migrations ([`PythonWords`], set by
    /// [`Invocation::with_python_of`]). Empty: such commands stay as written, except in one
    /// target's text of a fleet, which says how confiture (Python) reaches that target
    /// (confiture (Python) has no list of targets).
    pub python: PythonWords,
    /// A fleet run's [`PythonWords`]: those of its environment ([`Invocation::in_fleet_of`]),
    /// which one target's text ([`Invocation::for_target`]) gives its confiture (Python)
    /// commands — the migrations directory to every database target, the environment's file
    /// to the target that is the environment's own database alone
    /// ([`OneTarget::environments_own`]). The fleet's own text keeps such commands as written.
    pub fleet_python: PythonWords,
}

/// How a suggested confiture (Python) command names the database and the migrations of a run:
/// **the one owner** of those words, for the renderer ([`Invocation::python`]) and for a help
/// that writes them itself (`migrate squash-ledger`'s).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonWords {
    /// `-c FILE` (the environment file, which `--env NAME` names too), else `--database-url
    /// <URL>` (never the URL: it may hold a password); empty for none (a tenant schema:
    /// confiture (Python) has no `--schema`).
    pub database: Vec<String>,
    /// `--migrations-dir DIR`, unless it is confiture (Python)'s default `db/migrations`.
    pub files: Vec<String>,
    /// The tenant schema the run acts on, which confiture (Python) cannot address: its
    /// commands are said not to reach it rather than shown bare (bare, they act on
    /// whatever `db/environments/local.yaml` names).
    pub schema: Option<String>,
}

impl PythonWords {
    /// The words of a run on `env` (`None`: a run that read no environment, `DATABASE_URL`
    /// say) with the migrations of `migrations_dir` (`None`: the default): its environment file
    /// as `-c FILE` (relative to the current directory), else `--database-url <URL>`; a tenant
    /// schema's run gets no database words, confiture (Python) having no `--schema`.
    pub fn of(env: Option<&Environment>, migrations_dir: Option<&Path>) -> PythonWords {
        let schema = env.and_then(|env| env.migration.tenant_schema.clone());
        let database = match env {
            _ if schema.is_some() => Vec::new(),
            Some(Environment {
                file: Some(file), ..
            }) => vec![
                "-c".to_string(),
                path_word(&crate::display::relative(file), "<FILE>"),
            ],
            _ => one_database(),
        };
        let files = migrations_dir
            .filter(|d| *d != Path::new(PYTHON_MIGRATIONS_DIR))
            .map(|dir| vec!["--migrations-dir".to_string(), path_word(dir, "<DIR>")])
            .unwrap_or_default();
        PythonWords {
            database,
            files,
            schema,
        }
    }

    /// Whether the words name the database by an environment file (`-c FILE`), the one way
    /// every confiture (Python) command takes: `migrate squash-ledger`, `verify-checksums` and
    /// `baseline` read the database only from one (they take no `--database-url`).
    pub fn names_a_file(&self) -> bool {
        self.database.first().is_some_and(|w| w == "-c")
    }

    /// Nothing known: the commands stay as written.
    pub fn is_empty(&self) -> bool {
        self.database.is_empty() && self.files.is_empty() && self.schema.is_none()
    }

    /// The words as a command's arguments, each shell-quoted ([`quote`]).
    pub fn quoted(&self) -> String {
        (self.database.iter().chain(&self.files))
            .map(|w| quote(w).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How one target of a fleet is addressed by the commands its text suggests
/// ([`Invocation::for_target`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OneTarget {
    /// A tenant schema of the run's database: the run's selection and `--schema NAME`.
    pub schema: Option<String>,
    /// A database listed by its name on the environment's server
    /// ([`crate::fleet::TargetReport::entry`]): the commands that take a list, and those that
    /// take a list of one target (`baseline`, `reinit`), get the run's selection and a list of
    /// that name alone (`--targets <(echo tenant_7)`), which keeps the environment's
    /// credentials and settings. Anything else — a URL (its line may hold a password), the
    /// commands that take no list — gets `--database-url <URL>`.
    pub entry: Option<String>,
    /// The target is a database listed by name that is the fleet environment's own
    /// database (same server, same name: `ConnectionSpec::same_database`): the environment's
    /// file names it already, so a confiture (Python) command takes `-c FILE` with that file
    /// rather than an environment file still to be written.
    pub environments_own: bool,
}

impl Invocation {
    /// What a library session ([`crate::Migrator`]) repeats in the commands its errors
    /// suggest: its environment file (`-c FILE`), else a `--database-url <URL>` placeholder
    /// (never the URL: it may hold a password), then its migrations directory when it was
    /// given one; a tenant schema's session (`fleet::Target::schema`) adds `--schema NAME`.
    /// Pasted from a service's log, such a command reaches the database and the migrations
    /// the service used, not whatever the shell's directory would pick by default.
    pub fn for_session(env: &Environment, migrations_dir: Option<&Path>) -> Invocation {
        let mut database = match &env.file {
            Some(file) => vec!["-c".to_string(), path_word(file, "<FILE>")],
            None => one_database(),
        };
        if let Some(schema) = &env.migration.tenant_schema {
            database.extend(schema_words(schema));
        }
        let files = migrations_dir
            .map(|dir| vec!["--migrations-dir".to_string(), path_word(dir, "<DIR>")])
            .unwrap_or_default();
        Invocation {
            database,
            files,
            ..Invocation::default()
        }
        .with_python_of(env, migrations_dir)
    }

    /// This invocation completing confiture (Python)'s suggested commands for a run on `env`
    /// with the migrations of `migrations_dir` (`None`: the default, `db/migrations`): its
    /// environment file as `-c FILE` (relative to the current directory; `--env NAME` is a
    /// file too), else `--database-url <URL>` (never the URL: it may hold a password), then
    /// `--migrations-dir DIR` when it is not `db/migrations`, confiture (Python)'s default. A
    /// tenant schema's run gets none: confiture (Python) has no `--schema`.
    pub fn with_python_of(
        mut self,
        env: &Environment,
        migrations_dir: Option<&Path>,
    ) -> Invocation {
        self.python = PythonWords::of(Some(env), migrations_dir);
        self
    }

    /// Nothing to add: suggested commands stay as written. What a caller that completes them
    /// itself gives a [`crate::Migrator`] (the command line does, with the flags as typed).
    pub fn is_empty(&self) -> bool {
        self.database.is_empty()
            && self.files.is_empty()
            && self.fleet.is_empty()
            && self.target.is_none()
            && self.chosen.is_none()
            && !self.dry_run
            && self.python.is_empty()
            && self.fleet_python.is_empty()
    }

    /// This invocation knowing the fleet's environment `env`: a suggested command that
    /// addresses one of its databases by `--database-url <URL>` then says which of `env`'s
    /// settings that loses (`migration.tracking_table`, ...): a database listed by its URL (whose
    /// line may hold a password, so no list of it is written), or one of the fleet's own text.
    pub fn with_settings_of(mut self, env: &Environment) -> Invocation {
        self.url_drops = settings_a_url_drops(&env.migration);
        self.url_drops_connection = connection_settings_a_url_drops(&env.connection);
        self
    }

    /// `error` with the commands in its help and details completed ([`Invocation::render`]).
    /// Once only: an error passed on by another session's command is not completed again.
    #[cfg(feature = "db")]
    pub(crate) fn complete_error(&self, error: &mut Error) {
        if !self.is_empty() && error.mark_suggestions_completed() {
            self.complete(&mut error.help, &mut error.details);
        }
    }

    /// This invocation rendering a fleet run on `env`'s servers with the migrations of
    /// `migrations_dir` (`None`: the default): [`Invocation::with_settings_of`], and
    /// [`Invocation::fleet_python`] from `env` and `migrations_dir` ([`PythonWords::of`]), so
    /// that one target's confiture (Python) commands name the directory, and the
    /// environment's file for its own database; the fleet's own text names neither (its
    /// commands are the fleet's, and confiture (Python) takes no list of targets).
    pub fn in_fleet_of(self, env: &Environment, migrations_dir: Option<&Path>) -> Invocation {
        let mut fleet = self.with_settings_of(env);
        fleet.fleet_python = PythonWords::of(Some(env), migrations_dir);
        fleet.python = PythonWords::default();
        fleet
    }

    /// The same for an error as a report carries it.
    #[cfg(feature = "db")]
    pub(crate) fn complete_reported(&self, error: &mut ReportedError) {
        self.complete(&mut error.help, &mut error.details);
    }

    #[cfg(feature = "db")]
    fn complete(&self, help: &mut Option<String>, details: &mut [String]) {
        if self.is_empty() {
            return;
        }
        for line in help.iter_mut().chain(details) {
            if let Cow::Owned(done) = self.render(line) {
                *line = done;
            }
        }
    }

    /// This invocation acting on the tenant schema `schema` of its database: `--schema NAME`
    /// after the database selection (`--env dev --schema tenant_7`).
    pub fn with_schema(mut self, schema: &str) -> Invocation {
        self.database.extend(schema_words(schema));
        self
    }

    /// This invocation rendering the text of one target of a fleet ([`OneTarget`]): the
    /// commands that act on one target (`reinit`, `baseline`, ...) and `migrate down` address
    /// that target — a tenant schema by the run's selection and `--schema NAME`, a database
    /// listed by name by the run's selection and a list of that name alone, any other by
    /// `--database-url <URL>` (its URL is never shown: it may hold a password); the others
    /// keep the fleet's list.
    pub fn for_target(&self, target: OneTarget) -> Invocation {
        let python = if self.fleet_python.is_empty() {
            self.python.clone()
        } else {
            self.fleet_python.clone()
        };
        Invocation {
            target: Some(target),
            python,
            ..self.clone()
        }
    }

    /// This invocation for a run on the one target `target` that its list of one target chose
    /// ([`Invocation::chosen`]): `database` is the run's selection alone, without the list.
    pub fn choosing(self, target: OneTarget) -> Invocation {
        Invocation {
            chosen: Some(target),
            ..self
        }
    }

    /// The words that address the target being rendered, for the command `args`, and whether
    /// they are `--database-url <URL>` (which drops the environment's settings).
    fn target_words(&self, target: &OneTarget, takes_a_list: bool) -> (Vec<String>, bool) {
        if let Some(schema) = &target.schema {
            let words = self.database.iter().cloned().chain(schema_words(schema));
            return (words.map(|w| quote(&w).into_owned()).collect(), false);
        }
        match target.entry.as_deref().filter(|_| takes_a_list) {
            Some(entry) => {
                let words = self.database.iter().map(|w| quote(w).into_owned());
                let list = ["--targets".to_string(), one_line_list(entry)];
                // A run of a library fleet whose environment has no name is itself selected
                // by `--database-url <URL>`: its list keeps none of the environment's settings.
                (words.chain(list).collect(), self.database == one_database())
            }
            None => (one_database(), true),
        }
    }

    /// `text` with this run's arguments added to every command written by [`command`]:
    /// `` `cargo confiture migrate up` `` becomes `` `cargo confiture migrate up --env dev` ``.
    pub fn render<'t>(&self, text: &'t str) -> Cow<'t, str> {
        self.render_escaped(text, |word| word.to_string())
    }

    /// [`Invocation::render`] with each added word passed through `escape` after it is
    /// shell-quoted: over the text of a JSON document, `escape` makes it a JSON string's
    /// content, so that the suggested commands inside its strings are completed too.
    pub fn render_escaped<'t>(
        &self,
        text: &'t str,
        escape: impl Fn(&str) -> String,
    ) -> Cow<'t, str> {
        match self.render_python(text, &escape) {
            Some(done) => Cow::Owned(self.render_cargo(&done, &escape).into_owned()),
            None => self.render_cargo(text, &escape),
        }
    }

    /// `text` with its confiture (Python) commands ([`python_command`]) completed, and this
    /// tool's left as they are: for a text a renderer that knows no
    /// [`Invocation::python`] completes afterwards (an error passed up to the command line's
    /// last renderer).
    pub fn render_python_commands<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.render_python(text, &|word: &str| word.to_string()) {
            Some(done) => Cow::Owned(done),
            None => Cow::Borrowed(text),
        }
    }

    /// `text` with [`Invocation::python`]'s words added to every confiture (Python) command
    /// ([`python_command`]); None when there is nothing to change.
    fn render_python(&self, text: &str, escape: &impl Fn(&str) -> String) -> Option<String> {
        let opening = format!("`{PYTHON_PROGRAM} ");
        if (self.python.is_empty() && !self.dry_run && self.target.is_none())
            || !text.contains(&opening)
        {
            return None;
        }
        // A tenant schema (the run's, or the fleet target's whose text this is), which
        // confiture (Python) cannot address; else a fleet's database, which no environment file
        // of this run names — unless it is the environment's own, which its file names.
        let schema =
            (self.python.schema.as_ref()).or(self.target.as_ref().and_then(|t| t.schema.as_ref()));
        let environments_own = self.python.names_a_file()
            && (self.target.as_ref()).is_some_and(|t| t.environments_own && t.schema.is_none());
        let fleet_database = schema.is_none() && self.target.is_some() && !environments_own;
        let mut said = false;
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(start) = rest.find(&opening) {
            let after = start + opening.len();
            let Some(len) = rest[after..].find('`') else {
                break;
            };
            let args = &rest[after..after + len];
            out.push_str(&rest[..after + len]);
            let has = |flags: &[&str]| args.split(' ').any(|word| flags.contains(&word));
            // A command that names its database already (`squash-ledger -c FILE`, written from
            // the run's environment) keeps it, and gets the run's directory.
            let addressed = has(&["-c", "--config", "--database-url", "-d"]);
            // A run by URL, and a command that reads the database only from an environment
            // file (`migrate steps`, `squash-ledger`): `--database-url <URL>` would be refused.
            let by_url_needs_file = !addressed
                && schema.is_none()
                && !self.python.database.is_empty()
                && !self.python.names_a_file()
                && !is_one_of(args, PYTHON_TAKE_A_URL);
            let mut words: Vec<&str> = Vec::new();
            if !addressed && (fleet_database || by_url_needs_file) {
                words.extend(["-c", "<FILE>"]);
            } else if !addressed && schema.is_none() {
                // A fleet's tenant schema: its environment's file names the database, not
                // the schema, which confiture (Python) cannot address.
                words.extend(self.python.database.iter().map(String::as_str));
            }
            // A command that cannot address a tenant schema gets no words that would make it
            // look ready to paste.
            if !has(&["--migrations-dir"]) && schema.is_none() {
                words.extend(self.python.files.iter().map(String::as_str));
            }
            for word in words {
                out.push(' ');
                out.push_str(&escape(&quote(word)));
            }
            // A preview's suggestions preview too: confiture (Python)'s `migrate up`, `down`,
            // `down-to` and `baseline` take `--dry-run` as ours do.
            if self.dry_run
                && is_one_of(
                    args,
                    &[
                        "migrate up",
                        "migrate down",
                        "migrate down-to",
                        "migrate baseline",
                    ],
                )
                && !has(&["--dry-run"])
            {
                out.push_str(" --dry-run");
            }
            out.push('`');
            rest = &rest[after + len + 1..];
            // Said once per text, after its first confiture (Python) command.
            if !said {
                if let Some(schema) = schema {
                    said = true;
                    out.push_str(&escape(&format!(
                        " (confiture (Python) has no `--schema`: it cannot address tenant \
                         schema {})",
                        quote(schema)
                    )));
                } else if fleet_database && !addressed {
                    said = true;
                    out.push_str(&escape(
                        " (confiture (Python) takes no list of targets: write an environment \
                         file naming this database, `database_url: <its URL>` with the fleet \
                         environment's `migration:` settings, and give it as <FILE>)",
                    ));
                } else if by_url_needs_file {
                    said = true;
                    out.push_str(&escape(
                        " (that command of confiture (Python) reads the database only from an \
                         environment file, and this run read none: write one naming this \
                         database, `database_url: <its URL>`, and give it as <FILE>)",
                    ));
                }
            }
        }
        out.push_str(rest);
        Some(out)
    }

    /// [`Invocation::render_escaped`] of this tool's commands ([`command`]).
    fn render_cargo<'t>(&self, text: &'t str, escape: &impl Fn(&str) -> String) -> Cow<'t, str> {
        let opening = format!("`{PROGRAM} ");
        let again = self.target.is_some() && text.contains(AGAIN);
        if self.is_empty() || !(again || text.contains(&opening)) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        // Said once per text, after its first command that needs it.
        // A target listed by its URL never had the environment's connection settings.
        let by_its_url = self
            .target
            .as_ref()
            .or(self.chosen.as_ref())
            .is_some_and(|t| t.schema.is_none() && t.entry.is_none());
        let connection: &[&str] = if by_its_url {
            &[]
        } else {
            &self.url_drops_connection
        };
        let mut note = url_drops_note(&self.url_drops, connection);
        while let Some(start) = rest.find(&opening) {
            let after = start + opening.len();
            let Some(len) = rest[after..].find('`') else {
                break;
            };
            let args = &rest[after..after + len];
            out.push_str(&rest[..after]);
            out.push_str(args);
            let takes_a_list = is_one_of(args, TAKE_A_LIST);
            let this_target = self
                .target
                .as_ref()
                .filter(|_| !takes_a_list || is_one_of(args, AGAIN_ON_EVERY_TARGET));
            // Each word shell-quoted already (a one-line list is shell syntax, not a word).
            let quoted = |words: &[String]| -> Vec<String> {
                words.iter().map(|w| quote(w).into_owned()).collect()
            };
            let (selection, by_url) = if is_one_of(args, FILES_ONLY) {
                (Vec::new(), false)
            } else if let Some(target) = this_target {
                self.target_words(target, takes_a_list || is_one_of(args, TAKE_ONE_TARGET))
            } else if let Some(chosen) = &self.chosen {
                // Every command that connects takes a list (of one target, for `baseline`
                // and `reinit`) and `--schema`.
                self.target_words(chosen, true)
            } else if self.fleet.is_empty() || takes_a_list {
                (
                    quoted(&[&self.database[..], &self.fleet[..]].concat()),
                    false,
                )
            } else {
                (one_database(), true)
            };
            for word in selection.iter().chain(&quoted(&self.files)) {
                out.push(' ');
                out.push_str(&escape(word));
            }
            if self.dry_run
                && is_one_of(args, TAKE_DRY_RUN)
                && !args.split(' ').any(|word| word == "--dry-run")
            {
                out.push_str(" --dry-run");
            }
            out.push('`');
            if let Some(note) = note.take_if(|_| by_url) {
                out.push_str(&escape(&note));
            }
            rest = &rest[after + len + 1..];
        }
        out.push_str(rest);
        match self.again_on_this_target(&out, escape, &mut note) {
            Some(done) => Cow::Owned(done),
            None => Cow::Owned(out),
        }
    }

    /// In one target's text of a fleet, `text` with each [`AGAIN`] saying to run the command
    /// on that target alone and how to select it (the words a suggested `migrate down` gets:
    /// a list of its name alone, its `--schema`, or `--database-url <URL>` with `note`, what
    /// that loses); None when there is nothing to change. Once: an [`AGAIN`] already followed
    /// by the target's words is left alone.
    fn again_on_this_target(
        &self,
        text: &str,
        escape: &impl Fn(&str) -> String,
        note: &mut Option<String>,
    ) -> Option<String> {
        let target = self.target.as_ref()?;
        if !text.contains(AGAIN) {
            return None;
        }
        let (words, by_url) = self.target_words(target, true);
        let selection = words
            .iter()
            .map(|w| escape(w))
            .collect::<Vec<_>>()
            .join(" ");
        let mut out = String::with_capacity(text.len() + 64);
        let mut rest = text;
        while let Some(start) = rest.find(AGAIN) {
            let after = start + AGAIN.len();
            out.push_str(&rest[..after]);
            rest = &rest[after..];
            if rest.starts_with(AGAIN_ON_THIS_TARGET) {
                continue;
            }
            out.push_str(AGAIN_ON_THIS_TARGET);
            out.push('`');
            out.push_str(&selection);
            out.push('`');
            if let Some(note) = note.take_if(|_| by_url) {
                out.push_str(&escape(&note));
            }
            out.push_str(": the fleet's list runs it on every target again)");
        }
        out.push_str(rest);
        Some(out)
    }
}

/// How a suggestion names a tenant schema: `--schema NAME`.
fn schema_words(schema: &str) -> [String; 2] {
    [SCHEMA_FLAG.to_string(), schema.to_string()]
}

/// `<(echo NAME)`: a list of the database `entry` alone, as a shell reads it back (the name
/// quoted inside). A name a list would not read as that name (a `#` comment, an option of
/// `echo`) gets the `<LIST>` placeholder.
fn one_line_list(entry: &str) -> String {
    if entry.starts_with(['#', '-']) {
        return LIST_PLACEHOLDER.to_string();
    }
    format!("<(echo {})", quote(entry))
}

/// What a suggested command writes for a target list it cannot name: one read from a pipe
/// (`--targets <(list-tenants)`, gone once read).
pub const LIST_PLACEHOLDER: &str = "<LIST>";

/// The settings of the `migration:` block that `--database-url` does not carry (it reads no
/// environment file), by their keys: those `settings` sets to other than the default.
fn settings_a_url_drops(settings: &MigrationSettings) -> Vec<&'static str> {
    let default = MigrationSettings::default();
    let mut dropped = Vec::new();
    if settings.tracking_table != default.tracking_table {
        dropped.push("migration.tracking_table");
    }
    if settings.lock_timeout != default.lock_timeout {
        dropped.push("migration.lock_timeout");
    }
    if settings.statement_timeout != default.statement_timeout {
        dropped.push("migration.statement_timeout");
    }
    if settings.connect_timeout != default.connect_timeout {
        dropped.push("migration.connect_timeout");
    }
    if settings.lock_retries != default.lock_retries {
        dropped.push("migration.lock_retries");
    }
    dropped
}

/// The connection settings of `connection` (an environment's) that a URL naming only a host
/// and a database does not have: what one of its databases, written as a URL (a line of a
/// target list, `--database-url`), loses unless the URL says them too. **The** list of them,
/// for every help that suggests writing such a URL.
pub(crate) fn connection_settings_a_url_drops(connection: &ConnectionSpec) -> Vec<&'static str> {
    let mut dropped = Vec::new();
    if connection.sslmode != crate::config::SslMode::default() {
        dropped.push("sslmode");
    }
    if connection.sslrootcert.is_some() {
        dropped.push("sslrootcert");
    }
    if connection.sslcert.is_some() {
        dropped.push("sslcert");
    }
    if connection.sslkey.is_some() {
        dropped.push("sslkey");
    }
    if connection.target_session_attrs != crate::config::TargetSessionAttrs::default() {
        dropped.push("target_session_attrs");
    }
    if connection.options.is_some() {
        dropped.push("options");
    }
    // `passfile` only as written: libpq's default (`PGPASSFILE`, `~/.pgpass`) is every URL's too.
    if connection.written_passfile.is_some() {
        dropped.push("passfile");
    }
    dropped
}

/// `a`, `a and b`, `a, b and c`: each key in backquotes.
fn listed(keys: &[&str]) -> Option<String> {
    let (last, first) = keys.split_last()?;
    Some(match first {
        [] => format!("`{last}`"),
        _ => format!(
            "{} and `{last}`",
            first
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// What a URL written for one database of an environment must say of its `connection`
/// settings (`dropped`, [`connection_settings_a_url_drops`]): None when it has none to say.
pub(crate) fn url_must_carry(dropped: &[&str]) -> Option<String> {
    listed(dropped).map(|keys| {
        format!(
            "a URL reads none of the environment's connection settings: write its {keys} in \
             the URL too (`?sslmode=...&sslrootcert=...`)"
        )
    })
}

/// What follows a fleet target's `--database-url <URL>` command when the environment has
/// settings it drops: its `migration:` settings hold only for a database reached with the
/// environment — a list of that database alone (written by the user: its URL may hold a
/// password), or an environment file of its own — and its connection settings (`connection`)
/// must be written in the URL.
fn url_drops_note(dropped: &[&str], connection: &[&str]) -> Option<String> {
    let migration = listed(dropped).map(|keys| {
        format!(
            "the environment's {keys} would not apply; to keep them, give the run's selection \
             with a list of that database alone (`--targets FILE` naming it), or give that \
             database an environment file of its own, `-c FILE`"
        )
    });
    let parts: Vec<String> = migration
        .into_iter()
        .chain(url_must_carry(connection))
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        " (`--database-url` reads no environment file: {})",
        parts.join("; ")
    ))
}

/// The confiture (Python) commands a help suggests that take `--database-url`; its others
/// (`migrate steps`, `squash-ledger`, `verify-checksums`, `baseline`) read the database only
/// from an environment file (`-c FILE`).
const PYTHON_TAKE_A_URL: &[&str] = &[
    "migrate up",
    "migrate down",
    "migrate down-to",
    "migrate status",
];

/// confiture (Python)'s default migrations directory, which its commands need not name.
const PYTHON_MIGRATIONS_DIR: &str = "db/migrations";

/// How a suggestion addresses one database of a fleet whose URL it cannot show (it may hold a
/// password): `--database-url <URL>`.
fn one_database() -> Vec<String> {
    vec!["--database-url".to_string(), "<URL>".to_string()]
}

/// A path the user gave (`--migrations-dir`, `--manifest-path`, `-c`) as a word of the
/// selection [`Invocation`] repeats in every suggested command: its text, or `placeholder`
/// (`<DIR>`) when it is not UTF-8. The selection's words are text, quoted when rendered
/// ([`quote`]): the text of such a path, its bytes replaced by `\u{fffd}`, would name another
/// directory, and be pasted as such.
pub fn path_word(path: &Path, placeholder: &str) -> String {
    match path.to_str() {
        Some(text) => text.to_string(),
        None => placeholder.to_string(),
    }
}

/// The one advice for a client key encrypted with a passphrase, which cargo-confiture cannot
/// decrypt (`db::tls` finding one, a connection string's `sslpassword`): an unencrypted copy of
/// the key at `path` (`path.plain`), readable by its owner only, set as `sslkey`; without a
/// path, the same in words (no command that would not work as pasted).
pub fn unencrypted_key_advice(path: Option<&Path>) -> String {
    match path {
        Some(path) => {
            let mut plain = path.as_os_str().to_owned();
            plain.push(".plain");
            let plain = quote_path(Path::new(&plain));
            format!(
                "write an unencrypted copy readable by its owner only, e.g. `openssl pkey -in {} \
                 -out {plain} && chmod 0600 {plain}`, and set sslkey to it",
                quote_path(path)
            )
        }
        None => "write an unencrypted copy of the key readable by its owner only (`openssl \
                 pkey` asks for the passphrase, then `chmod 0600` the copy), and set sslkey to \
                 it"
        .to_string(),
    }
}

/// The shell command renaming a pair's files (`up`, then `down` when there is one) to the stem
/// `to_stem` (`001_create_users`), each path as typed from the current directory and
/// shell-quoted ([`quote_path`]), joined by `&&`, without backquotes: the one form of every
/// renumbering a help suggests.
pub fn mv_pair(up: Option<&Path>, down: Option<&Path>, to_stem: &str) -> String {
    use crate::files::Direction;
    let mv = |file: &Path, direction: Direction| {
        let target = file.with_file_name(format!("{to_stem}.{direction}.sql"));
        let word = |path: &Path| quote_path(&crate::display::relative(path));
        format!("mv {} {}", word(file), word(&target))
    };
    let up = up.map(|path| mv(path, Direction::Up));
    let down = down.map(|path| mv(path, Direction::Down));
    up.into_iter().chain(down).collect::<Vec<_>>().join(" && ")
}

/// A path as one word of a suggested shell command: the one rule for every path a help names
/// in a command (`mv`, `rm`, `chmod`, `openssl -in`). Its text quoted as every word is (single
/// quotes, or `$'...'`), and a relative path that starts with `-` (a directory `-db`) given as
/// `./-db/...`, so that no command takes it for an option. A path that is not UTF-8 is ANSI-C quoted byte for byte (`$'\xff'`): its
/// text with the bytes replaced would name another file.
pub fn quote_path(path: &Path) -> String {
    let dashed = path.as_os_str().as_encoded_bytes().starts_with(b"-");
    let path = if dashed {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    if let Some(text) = path.to_str() {
        return quote(text).into_owned();
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::from("$'");
        for &byte in path.as_os_str().as_bytes() {
            match byte {
                b'\\' | b'\'' => {
                    out.push('\\');
                    out.push(char::from(byte));
                }
                0x20..=0x7e => out.push(char::from(byte)),
                _ => out.push_str(&format!("\\x{byte:02x}")),
            }
        }
        out.push('\'');
        out
    }
    #[cfg(not(unix))]
    {
        quote(&path.to_string_lossy()).into_owned()
    }
}

/// A word as a POSIX shell reads it back: left alone when it is plain, else single-quoted.
/// Every word of a suggested shell command goes through here, so that pasting it runs what it
/// says (a database named `x;echo pwned` is one argument, not a second command). A word with a
/// character a terminal must not get raw ([`crate::display::escape`]'s: a control character, a
/// bidi override) is ANSI-C quoted, `$'a\tb'` (bash, zsh, POSIX.1-2024), each such character
/// as its UTF-8 bytes `\xHH`: inside single quotes, the escaped `\t` a terminal shows would be
/// read as a backslash and a `t`, and name another database.
pub fn quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    // Placeholders like `<URL>` are meant to be replaced, not quoted.
    let placeholder = word.starts_with('<') && word.ends_with('>');
    if plain || placeholder {
        Cow::Borrowed(word)
    } else if word.chars().any(crate::display::is_hazard) {
        let mut out = String::from("$'");
        for c in word.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if crate::display::is_hazard(c) => {
                    for byte in c.encode_utf8(&mut [0; 4]).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        Cow::Owned(out)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// D15: a path starting with `-` was taken by `mv` for an option; a path with a control
    /// character or bytes that are not UTF-8 named another file once escaped for the terminal.
    #[test]
    fn a_path_is_one_word_that_names_itself() {
        for (path, word) in [
            (
                "-db/migrations/002_b.up.sql",
                "./-db/migrations/002_b.up.sql",
            ),
            ("db/migrations/002_b.up.sql", "db/migrations/002_b.up.sql"),
            ("/srv/-db/x.sql", "/srv/-db/x.sql"),
            ("-my db/x.sql", "'./-my db/x.sql'"),
            ("it's/x", "'it'\\''s/x'"),
            ("a\tb/x", "$'a\\tb/x'"),
        ] {
            assert_eq!(quote_path(Path::new(path)), word, "{path:?}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let path = Path::new(std::ffi::OsStr::from_bytes(b"-d\xff/it's"));
            assert_eq!(quote_path(path), "$'./-d\\xff/it\\'s'");
        }
    }

    fn invocation(database: &[&str], files: &[&str]) -> Invocation {
        Invocation {
            database: database.iter().map(|s| s.to_string()).collect(),
            files: files.iter().map(|s| s.to_string()).collect(),
            fleet: Vec::new(),
            target: None,
            chosen: None,
            url_drops: Vec::new(),
            url_drops_connection: Vec::new(),
            dry_run: false,
            python: PythonWords::default(),
            fleet_python: PythonWords::default(),
        }
    }

    /// hpy A: a confiture (Python) command a help suggests acts on the run's database and
    /// migrations, as ours do: `-c FILE` (`--database-url <URL>` without a file),
    /// `--migrations-dir` unless confiture's default, `--dry-run` in a preview; a command that
    /// names its database already keeps it, and gets the run's directory; ours keep theirs.
    #[test]
    fn confiture_python_commands_get_the_run_s_file_and_directory() {
        let run = Invocation {
            python: PythonWords {
                database: ["-c", "db/environments/my env.yaml"]
                    .map(String::from)
                    .to_vec(),
                files: ["--migrations-dir", "sql"].map(String::from).to_vec(),
                schema: None,
            },
            ..invocation(&["--env", "my"], &[])
        };
        let text = format!(
            "first {} then {}; {}",
            python_command("migrate down-to 002"),
            command("migrate down --target 001"),
            python_command("migrate squash-ledger -c x.yaml")
        );
        assert_eq!(
            run.render(&text),
            "first `confiture migrate down-to 002 -c 'db/environments/my env.yaml' \
             --migrations-dir sql` then `cargo confiture migrate down --target 001 --env my`; \
             `confiture migrate squash-ledger -c x.yaml --migrations-dir sql`"
        );
        let preview = Invocation {
            dry_run: true,
            ..run
        };
        assert!(preview
            .render(&python_command("migrate up --target 003"))
            .ends_with("--migrations-dir sql --dry-run`"));
        // Without words (a fleet's text), the command stays as written.
        assert_eq!(
            invocation(&["--env", "my"], &[]).render(&python_command("migrate up --target 3")),
            "`confiture migrate up --target 3`"
        );
    }

    /// A tenant schema's run, and a fleet's target, get no bare confiture (Python) command:
    /// bare, it would act on whatever `db/environments/local.yaml` names. A tenant schema is
    /// said to be out of its reach (it has no `--schema`); a fleet's database gets `-c <FILE>`
    /// and what to write in that file (it takes no list of targets, and a URL's target has no
    /// file of its own). Once per text.
    #[test]
    fn confiture_python_commands_of_a_tenant_or_a_fleet_target_are_never_bare() {
        let text = format!(
            "{} or {}",
            python_command("migrate up --target 3"),
            python_command("migrate down")
        );
        let mut env = Environment::from_url("postgresql://h/db", "--database-url").unwrap();
        env.migration.tenant_schema = Some("tenant 7".into());
        let tenant = invocation(&["--env", "my"], &[]).with_python_of(&env, None);
        assert_eq!(
            tenant.render(&text),
            "`confiture migrate up --target 3` (confiture (Python) has no `--schema`: it \
             cannot address tenant schema 'tenant 7') or `confiture migrate down`"
        );
        let fleet = invocation(&["--env", "my"], &[]);
        assert_eq!(
            fleet.for_target(tenant_target("t7")).render(&text),
            "`confiture migrate up --target 3` (confiture (Python) has no `--schema`: it \
             cannot address tenant schema t7) or `confiture migrate down`"
        );
        let by_name = OneTarget {
            schema: None,
            entry: Some("tenant_7".into()),
            ..OneTarget::default()
        };
        for target in [by_name, OneTarget::default()] {
            assert_eq!(
                fleet.for_target(target).render(&text),
                "`confiture migrate up --target 3 -c <FILE>` (confiture (Python) takes no \
                 list of targets: write an environment file naming this database, \
                 `database_url: <its URL>` with the fleet environment's `migration:` \
                 settings, and give it as <FILE>) or `confiture migrate down -c <FILE>`"
            );
        }
        // A fleet's own text (no target) keeps them as written.
        assert_eq!(fleet.render(&text), text);
        // A run by URL: the commands that take `--database-url` get it; one that reads only an
        // environment file gets `-c <FILE>` and what to write there.
        let env = Environment::from_url("postgresql://h/db", "--database-url").unwrap();
        let by_url = invocation(&["--database-url", "<URL>"], &[]).with_python_of(&env, None);
        assert_eq!(
            by_url.render(&format!(
                "{}, {} or {}",
                python_command("migrate steps --resume 002"),
                python_command("migrate down-to 001"),
                python_command("migrate steps")
            )),
            "`confiture migrate steps --resume 002 -c <FILE>` (that command of confiture \
             (Python) reads the database only from an environment file, and this run read \
             none: write one naming this database, `database_url: <its URL>`, and give it as \
             <FILE>), `confiture migrate down-to 001 --database-url <URL>` or `confiture \
             migrate steps -c <FILE>`"
        );
    }

    /// A fleet's confiture (Python) commands named no `--migrations-dir` when its directory
    /// is not `db/migrations`, and a target listed by name that is the environment's own
    /// database was told to write an environment file while the environment's names it.
    #[test]
    fn a_fleet_targets_python_command_names_the_directory_and_the_environments_file() {
        let mut env = Environment::from_url("postgresql://h/app", "own.yaml").unwrap();
        env.file = Some(std::path::PathBuf::from("db/environments/own.yaml"));
        let fleet = invocation(&["--env", "own"], &["--migrations-dir", "sql"])
            .in_fleet_of(&env, Some(Path::new("sql")));
        let text = python_command("migrate up --target 3");
        let own = OneTarget {
            entry: Some("app".into()),
            environments_own: true,
            ..OneTarget::default()
        };
        assert_eq!(
            fleet.for_target(own).render(&text),
            "`confiture migrate up --target 3 -c db/environments/own.yaml --migrations-dir sql`"
        );
        let other = OneTarget {
            entry: Some("tenant_7".into()),
            ..OneTarget::default()
        };
        assert_eq!(
            fleet.for_target(other).render(&text),
            "`confiture migrate up --target 3 -c <FILE> --migrations-dir sql` (confiture \
             (Python) takes no list of targets: write an environment file naming this \
             database, `database_url: <its URL>` with the fleet environment's `migration:` \
             settings, and give it as <FILE>)"
        );
        // A tenant schema gets no words; the fleet's own text keeps them as written.
        assert!(fleet
            .for_target(tenant_target("t7"))
            .render(&text)
            .starts_with("`confiture migrate up --target 3` (confiture (Python) has no"));
        assert_eq!(fleet.render(&text), text);
        // The environment's own database by URL (no file): still a file to write.
        let by_url = Environment::from_url("postgresql://h/app", "--database-url").unwrap();
        let fleet = invocation(&[], &[]).in_fleet_of(&by_url, None);
        let own = OneTarget {
            entry: Some("app".into()),
            environments_own: true,
            ..OneTarget::default()
        };
        assert!(fleet
            .for_target(own)
            .render(&text)
            .starts_with("`confiture migrate up --target 3 -c <FILE>` (confiture (Python) takes"));
    }

    fn tenant_target(schema: &str) -> OneTarget {
        OneTarget {
            schema: Some(schema.to_string()),
            entry: None,
            ..OneTarget::default()
        }
    }

    /// A fleet target's suggested `down` and `reinit` were `--database-url <URL>` whatever the
    /// environment: pasted with the URL, they read no environment file, so an environment's
    /// `migration.tracking_table` was not the ledger they looked for (they failed) and its
    /// timeouts did not apply. A database listed by name is addressed, by the commands that
    /// take a list, with the run's selection and a list of that name alone; the others say
    /// which settings `--database-url` loses.
    #[test]
    fn a_database_targets_commands_keep_the_environment_or_say_what_they_lose() {
        let mut run = invocation(&["--env", "ops"], &[]);
        run.fleet = vec!["--targets".to_string(), "all.txt".to_string()];
        let env_with = |change: fn(&mut MigrationSettings)| {
            let mut env = Environment::from_url("postgresql://u@h/db", "t").expect("url");
            change(&mut env.migration);
            env
        };
        let plain = run.clone().with_settings_of(&env_with(|_| {}));
        let named = |inv: &Invocation, entry: &str| {
            inv.for_target(OneTarget {
                schema: None,
                entry: Some(entry.to_string()),
                ..OneTarget::default()
            })
        };
        assert_eq!(
            named(&plain, "tenant_7").render(&command("migrate down --steps 5")),
            "`cargo confiture migrate down --steps 5 --env ops --targets <(echo tenant_7)`"
        );
        // A name the shell would split is quoted inside; one a list would read otherwise is a
        // placeholder.
        assert_eq!(
            named(&plain, "t;x").render(&command("migrate down")),
            "`cargo confiture migrate down --env ops --targets <(echo 't;x')`"
        );
        assert_eq!(
            named(&plain, "-n").render(&command("migrate down")),
            "`cargo confiture migrate down --env ops --targets <LIST>`"
        );
        let ops = run.with_settings_of(&env_with(|m| {
            m.tracking_table =
                crate::ledger::TrackingTable::parse("ops.tb_confiture").expect("table");
            m.lock_timeout = std::time::Duration::from_secs(1);
        }));
        // h20 F13b: `reinit` and `baseline`, which take a list of one target, too: with the
        // environment's settings, nothing lost to say.
        for inv in [&plain, &ops] {
            assert_eq!(
                named(inv, "tenant_7").render(&command("migrate baseline --through 2")),
                "`cargo confiture migrate baseline --through 2 --env ops --targets <(echo \
                 tenant_7)`"
            );
            assert_eq!(
                named(inv, "tenant_7").render(&command("migrate reinit")),
                "`cargo confiture migrate reinit --env ops --targets <(echo tenant_7)`"
            );
        }
        // The fleet's own text: never the fleet's list, which names more than one.
        let reinit = ops.render(&command("migrate reinit")).into_owned();
        assert!(
            reinit.starts_with(
                "`cargo confiture migrate reinit --database-url <URL>` (`--database-url` reads \
                 no environment file: the environment's `migration.tracking_table` and \
                 `migration.lock_timeout` would not apply"
            ),
            "{reinit}"
        );
        // A URL's target: `--database-url <URL>` for `down` too, saying the same.
        let by_url = ops.for_target(OneTarget::default());
        let down = by_url
            .render(&command("migrate down --steps 1"))
            .into_owned();
        assert!(
            down.starts_with("`cargo confiture migrate down --steps 1 --database-url <URL>` ("),
            "{down}"
        );
        assert!(down.contains("`migration.tracking_table`"), "{down}");
        // Said once in a text, after its first such command.
        let two = format!(
            "run {} (or {})",
            command("migrate down --steps 3"),
            command("migrate down --target 0 --yes")
        );
        let rendered = by_url.render(&two);
        assert_eq!(
            rendered.matches("reads no environment file").count(),
            1,
            "{rendered}"
        );
        assert!(
            rendered.ends_with("--yes --database-url <URL>`)"),
            "{rendered}"
        );
        // The commands that keep the fleet's list say nothing more.
        assert_eq!(
            by_url.render(&command("migrate status")),
            "`cargo confiture migrate status --env ops --targets all.txt`"
        );
    }

    /// A fleet target's suggested `--database-url <URL>` said which `migration:` settings it
    /// loses, not the connection's: a database listed by name had the environment's
    /// `sslmode=verify-full` and certificate files, which a URL written for it lacks unless it
    /// says them. They are named in the fleet's own text (such a target's commands select it
    /// by a list of its name, which keeps them), never for a target listed by its own URL,
    /// which never had them.
    /// A `passfile` the connection writes is one of them (a URL without it reads another
    /// password file); libpq's default password file (`PGPASSFILE`, `~/.pgpass`) is every
    /// URL's too, never named.
    #[test]
    fn a_written_passfile_is_a_setting_a_url_drops() {
        let connection = |query: &str| {
            Environment::from_url(&format!("postgresql://u@h/db{query}"), "t")
                .expect("url")
                .connection
        };
        assert_eq!(
            connection_settings_a_url_drops(&connection("?passfile=/p")),
            ["passfile"]
        );
        assert_eq!(
            connection_settings_a_url_drops(&connection("?password=x&passfile=/p")),
            ["passfile"]
        );
        assert!(connection_settings_a_url_drops(&connection("")).is_empty());
    }

    #[test]
    fn a_suggested_url_names_the_connection_settings_it_must_carry() {
        let mut run = invocation(&["--env", "ops"], &[]);
        run.fleet = vec!["--targets".to_string(), "all.txt".to_string()];
        let env = Environment::from_url(
            "postgresql://u@h/db?sslmode=verify-full&sslcert=/c.pem&sslkey=/k.pem",
            "t",
        )
        .expect("url");
        let run = run.with_settings_of(&env);
        let by_name = run.for_target(OneTarget {
            schema: None,
            entry: Some("tenant_7".to_string()),
            ..OneTarget::default()
        });
        let down = by_name
            .render(&command("migrate down --target 0 --yes"))
            .into_owned();
        assert!(!down.contains("in the URL too"), "{down}");
        let reinit = run.render(&command("migrate reinit")).into_owned();
        assert!(
            reinit.contains(
                "(`--database-url` reads no environment file: a URL reads none of the \
                 environment's connection settings: write its `sslmode`, `sslrootcert`, \
                 `sslcert` and `sslkey` in the URL too"
            ) || reinit.contains("write its `sslmode`, `sslcert` and `sslkey` in the URL too"),
            "{reinit}"
        );
        let by_url = run.for_target(OneTarget::default());
        assert_eq!(
            by_url.render(&command("migrate reinit")),
            "`cargo confiture migrate reinit --database-url <URL>`"
        );
    }

    /// A fleet target's help said "fix FILE, then run the command again" (a sentence, not a
    /// suggested command): the command was the fleet's, and a `down` run again on the whole
    /// list rolled back one more migration on every finished target. In one target's text it
    /// says to run it on that target alone and how to select it; elsewhere it is unchanged.
    #[test]
    fn a_targets_run_the_command_again_names_that_target_alone() {
        let mut run = invocation(&["--env", "fl"], &["--migrations-dir", "sql"]);
        run.fleet = vec!["--targets".to_string(), "t.txt".to_string()];
        let help = "fix 003.down.sql, then run the command again";
        let named = run.for_target(OneTarget {
            schema: None,
            entry: Some("db 2".to_string()),
            ..OneTarget::default()
        });
        let rendered = named.render(help).into_owned();
        assert_eq!(
            rendered,
            "fix 003.down.sql, then run the command again on this target alone (select it with \
             `--env fl --targets <(echo 'db 2')`: the fleet's list runs it on every target again)"
        );
        // Rendered twice (a library session's completion, then the command line's): once.
        assert_eq!(named.render(&rendered), rendered);
        // Every such sentence of a text, with a suggested command beside it.
        let two = format!(
            "run the command again when the lock is released, or {}; running the command again \
             finds it",
            command("migrate status")
        );
        let rendered = named.render(&two);
        assert_eq!(
            rendered.matches("on this target alone").count(),
            2,
            "{rendered}"
        );
        assert!(
            rendered.contains(
                "`cargo confiture migrate status --env fl --targets t.txt --migrations-dir sql`"
            ),
            "{rendered}"
        );
        let tenant = run.for_target(tenant_target("tenant_7"));
        assert!(tenant
            .render(help)
            .ends_with("(select it with `--env fl --schema tenant_7`: the fleet's list runs it on every target again)"));
        // A URL's target: `--database-url <URL>`, saying what that loses.
        let mut env = Environment::from_url("postgresql://u@h/db", "t").expect("url");
        env.migration.tracking_table =
            crate::ledger::TrackingTable::parse("ops.tb_confiture").expect("table");
        let by_url = run
            .clone()
            .with_settings_of(&env)
            .for_target(OneTarget::default());
        let rendered = by_url.render(help);
        assert!(
            rendered.contains("(select it with `--database-url <URL>` (`--database-url` reads no")
                && rendered.contains("`migration.tracking_table`"),
            "{rendered}"
        );
        // In JSON the added words are escaped as a string's content.
        let json = named.render_escaped("\"run the command again\"", |w| w.replace('\'', "Q"));
        assert!(
            json.contains("`--env fl --targets <(echo Qdb 2Q)`"),
            "{json}"
        );
        // The fleet's own text, and a run on one database: unchanged.
        assert_eq!(run.render(help), help);
        assert_eq!(invocation(&["--env", "fl"], &[]).render(help), help);
    }

    /// `baseline`/`reinit --targets-query SQL` suggested commands repeating `--targets-query
    /// <SQL>`, which cannot be pasted. A run on the one target its list chose addresses it in
    /// every suggested command that connects, as a fleet target's text does; files-only
    /// commands stay as they are, and "run the command again" (its own command line) too.
    #[test]
    fn a_run_on_the_target_a_list_chose_addresses_it_in_every_command() {
        let run = invocation(&["--env", "q"], &["--migrations-dir", "sql"]);
        let named = run.clone().choosing(OneTarget {
            schema: None,
            entry: Some("tenant_7".to_string()),
            ..OneTarget::default()
        });
        for args in [
            "migrate status",
            "migrate baseline --through 3",
            "migrate down",
        ] {
            assert_eq!(
                named.render(&command(args)),
                format!(
                    "`cargo confiture {args} --env q --targets <(echo tenant_7) --migrations-dir \
                     sql`"
                )
            );
        }
        let tenant = run.clone().choosing(tenant_target("t_a"));
        assert_eq!(
            tenant.render(&command("migrate reinit")),
            "`cargo confiture migrate reinit --env q --schema t_a --migrations-dir sql`"
        );
        let mut env = Environment::from_url("postgresql://u@h/db", "t").expect("url");
        env.migration.tracking_table =
            crate::ledger::TrackingTable::parse("ops.tb_confiture").expect("table");
        let by_url = run.with_settings_of(&env).choosing(OneTarget::default());
        let status = by_url.render(&command("migrate status")).into_owned();
        assert!(
            status.starts_with(
                "`cargo confiture migrate status --database-url <URL> --migrations-dir sql` \
                 (`--database-url` reads no environment file: the environment's \
                 `migration.tracking_table` would not apply"
            ),
            "{status}"
        );
        assert_eq!(
            named.render(&command("lint")),
            "`cargo confiture lint --migrations-dir sql`"
        );
        let again = "wait, then run the command again";
        assert_eq!(named.render(again), again);
    }

    /// A fleet's `--targets` went into a suggested `reinit`, which takes no list: pasted, it
    /// was refused, and without the list it would act on the environment's own database.
    #[test]
    fn a_fleets_list_goes_only_to_the_commands_that_take_one() {
        let mut inv = invocation(&["--env", "dev"], &["--migrations-dir", "sql"]);
        inv.fleet = vec!["--targets".to_string(), "t.txt".to_string()];
        assert_eq!(
            inv.render(&command("migrate status")),
            "`cargo confiture migrate status --env dev --targets t.txt --migrations-dir sql`"
        );
        assert_eq!(
            inv.render(&command("migrate reinit")),
            "`cargo confiture migrate reinit --database-url <URL> --migrations-dir sql`"
        );
        assert_eq!(
            inv.render(&command("lint")),
            "`cargo confiture lint --migrations-dir sql`"
        );
    }

    /// A tenant schema's help in a `--schemas-query` fleet suggested
    /// `migrate reinit --database-url <URL>`: pasted, it rewrote the database's public ledger,
    /// not the tenant's. One target's text addresses that target: a tenant by the run's
    /// selection and `--schema`, a database by its (hidden) URL; a `down` too, which with the
    /// list would roll back the finished targets once more.
    #[test]
    fn one_targets_text_addresses_that_target_and_lists_stay_for_the_rest() {
        let mut run = invocation(&["--env", "dev"], &["--migrations-dir", "sql"]);
        run.fleet = vec!["--schemas-query".to_string(), "<SQL>".to_string()];
        let tenant = run.for_target(tenant_target("tenant_7"));
        assert_eq!(
            tenant.render(&command("migrate reinit")),
            "`cargo confiture migrate reinit --env dev --schema tenant_7 --migrations-dir sql`"
        );
        assert_eq!(
            tenant.render(&command("migrate baseline --through 2")),
            "`cargo confiture migrate baseline --through 2 --env dev --schema tenant_7 \
             --migrations-dir sql`"
        );
        assert_eq!(
            tenant.render(&command("migrate down --steps 3")),
            "`cargo confiture migrate down --steps 3 --env dev --schema tenant_7 \
             --migrations-dir sql`"
        );
        assert_eq!(
            tenant.render(&command("migrate status")),
            "`cargo confiture migrate status --env dev --schemas-query <SQL> --migrations-dir sql`"
        );
        assert_eq!(
            tenant.render(&command("lint")),
            "`cargo confiture lint --migrations-dir sql`"
        );
        // A target's `up` (`status`'s "create it": `up --create-database`) too: with the list
        // it would migrate every other target.
        assert_eq!(
            tenant.render(&command("migrate up --create-database")),
            "`cargo confiture migrate up --create-database --env dev --schema tenant_7 \
             --migrations-dir sql`"
        );
        let database = run.for_target(OneTarget::default());
        assert_eq!(
            database.render(&command("migrate down --target 0 --yes")),
            "`cargo confiture migrate down --target 0 --yes --database-url <URL> \
             --migrations-dir sql`"
        );
        // The fleet's own text (no target): a `down` is the fleet's.
        assert_eq!(
            run.render(&command("migrate down")),
            "`cargo confiture migrate down --env dev --schemas-query <SQL> --migrations-dir sql`"
        );
        // A fleet from the environment file's `fleet:` block repeats no list; its target's
        // one-target commands still address the target, never the environment's database.
        let from_file = invocation(&["--env", "prod"], &[]).for_target(tenant_target("t_1"));
        assert_eq!(
            from_file.render(&command("migrate reinit")),
            "`cargo confiture migrate reinit --env prod --schema t_1`"
        );
        // Chosen automatically (no flag): the tenant alone is named.
        let auto = Invocation::default().for_target(tenant_target("t_1"));
        assert_eq!(
            auto.render(&command("migrate reinit")),
            "`cargo confiture migrate reinit --schema t_1`"
        );
    }

    /// A run on one tenant (`--schema tenant_7`) suggested commands without it: pasted, they
    /// acted on the database's public ledger.
    #[test]
    fn a_single_tenant_run_repeats_its_schema_except_to_commands_on_files() {
        let inv = invocation(&["-c", "dev.yaml"], &[]).with_schema("tenant_7");
        assert_eq!(
            inv.render(&command("migrate reinit")),
            "`cargo confiture migrate reinit -c dev.yaml --schema tenant_7`"
        );
        assert_eq!(
            inv.render(&command("migrate status")),
            "`cargo confiture migrate status -c dev.yaml --schema tenant_7`"
        );
        assert_eq!(inv.render(&command("lint")), "`cargo confiture lint`");
    }

    #[test]
    fn every_suggested_command_repeats_the_selection() {
        let inv = invocation(&["--env", "dev"], &[]);
        let text = format!(
            "run {} to see what was recorded, then {} again",
            command("migrate status"),
            command("migrate up")
        );
        assert_eq!(
            inv.render(&text),
            "run `cargo confiture migrate status --env dev` to see what was recorded, \
             then `cargo confiture migrate up --env dev` again"
        );
    }

    /// The JSON documents' suggested commands did not repeat the selection: a script running
    /// one acted on the default database.
    #[test]
    fn in_json_the_added_words_are_escaped() {
        let inv = invocation(&["-c", "dir\\my \"env\".yaml"], &[]);
        let json = format!("{{\"help\": \"run {}\"}}", command("migrate status"));
        let in_a_string = |w: &str| {
            let quoted = serde_json::to_string(w).unwrap();
            quoted[1..quoted.len() - 1].to_string()
        };
        let rendered = inv.render_escaped(&json, in_a_string);
        let doc: serde_json::Value = serde_json::from_str(&rendered).expect("still JSON");
        assert_eq!(
            doc["help"],
            "run `cargo confiture migrate status -c 'dir\\my \"env\".yaml'`"
        );
    }

    #[test]
    fn commands_that_read_only_files_repeat_only_the_directory() {
        let inv = invocation(&["-c", "my env.yaml"], &["--migrations-dir", "sql"]);
        assert_eq!(
            inv.render(&format!("fix them ({} lists them)", command("lint"))),
            "fix them (`cargo confiture lint --migrations-dir sql` lists them)"
        );
        assert_eq!(
            inv.render(&command("migrate generate NAME")),
            "`cargo confiture migrate generate NAME --migrations-dir sql`"
        );
        assert_eq!(
            inv.render(&command("migrate reinit --through 005")),
            "`cargo confiture migrate reinit --through 005 -c 'my env.yaml' --migrations-dir sql`"
        );
    }

    /// A control character was written as `\t` inside single quotes, where a shell reads a
    /// backslash and a `t`: the pasted command named another database, file or schema. Every
    /// word reads back as itself in a shell, and needs no escaping to reach a terminal.
    #[test]
    fn every_quoted_word_reads_back_as_itself_in_a_shell() {
        let words = [
            "plain_name-1.2",
            "two words",
            "it's",
            "a\tb",
            "line\nbreak",
            "cr\rlf",
            "esc\x1b[2J",
            "del\x7f",
            "c1\u{85}",
            "bidi\u{202e}txt",
            "back\\slash'quote\n",
            "x;echo pwned $(id) `id`",
            "ünïcode\t",
        ];
        for word in words {
            let quoted = quote(word);
            assert_eq!(
                crate::display::escape(&quoted),
                quoted,
                "{word:?}: a terminal shows it as it is"
            );
            let output = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf %s {quoted}"))
                .output()
                .expect("run bash");
            assert!(output.status.success(), "{quoted}");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout),
                word,
                "{quoted} read back by bash"
            );
        }
        assert_eq!(quote("a\tb"), "$'a\\tb'");
    }

    /// h17 F4: a limited run's help kept an unbounded `migrate up --allow-non-empty` (or
    /// `--create-database`): only the bare command was given the bound. Every suggested command
    /// of the direction without `--target`/`--steps` gets it, its own flags after it; a bounded
    /// one, another direction's and a longer subcommand's are left alone.
    #[cfg(feature = "db")]
    #[test]
    fn every_unbounded_command_of_the_direction_gets_the_bound() {
        let text = format!(
            "run {}, or {}, then {}; {} and {} stay",
            command("migrate up"),
            command("migrate up --allow-non-empty"),
            command("migrate up --create-database --single-transaction"),
            command("migrate up --target 002"),
            command("migrate down"),
        );
        assert_eq!(
            bounded(&text, "migrate up --target 003 --allow-destructive"),
            "run `cargo confiture migrate up --target 003 --allow-destructive`, or `cargo \
             confiture migrate up --target 003 --allow-destructive --allow-non-empty`, then \
             `cargo confiture migrate up --target 003 --allow-destructive --create-database \
             --single-transaction`; `cargo confiture migrate up --target 002` and `cargo \
             confiture migrate down` stay"
        );
        assert_eq!(
            unbounded_commands(&command("migrate upgrade"), "migrate up"),
            Vec::new()
        );
        // The same flag is not said twice.
        assert_eq!(
            bounded(
                &command("migrate up --allow-non-empty"),
                "migrate up --target 1 --allow-non-empty"
            ),
            "`cargo confiture migrate up --target 1 --allow-non-empty`"
        );
    }

    #[test]
    fn placeholders_stay_and_plain_text_is_untouched() {
        let inv = invocation(&["--database-url", "<URL>"], &[]);
        assert_eq!(
            inv.render(&command("migrate up")),
            "`cargo confiture migrate up --database-url <URL>`"
        );
        assert_eq!(inv.render("no command here"), "no command here");
        assert_eq!(
            inv.render("`cargo confiture unclosed"),
            "`cargo confiture unclosed"
        );
        assert_eq!(
            Invocation::default().render(&command("lint")),
            command("lint")
        );
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
