//! The command line, declared with clap: every flag documented, nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use confiture::config::{FleetList, Labels, Timeout, Zero, MAX_JOBS};
use confiture::history::{Version, VersionError};
use confiture::migrate::DEFAULT_LOCK_WAIT;

/// How messages of the library name the three ways of choosing a database: our flags.
pub const SELECTION_LABELS: Labels<'static> = Labels {
    url: "--database-url",
    env: "--env",
    file: "-c",
};

/// PostgreSQL schema migrations, native to Cargo.
///
/// Applies incremental SQL migrations (`db/migrations/NNN_name.up.sql` / `.down.sql`) to the
/// database an environment file names (`db/environments/<env>.yaml`), recording them in the
/// ledger table confiture (Python) also uses.
#[derive(Debug, Parser)]
#[command(
    name = "cargo confiture",
    bin_name = "cargo confiture",
    version,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The target-list flags of the command, for the commands that take a list.
    pub fn fleet_args(&self) -> Option<&FleetArgs> {
        match &self.command {
            Command::Migrate(Migrate::Up(args)) => Some(&args.fleet),
            Command::Migrate(Migrate::Down(args)) => Some(&args.fleet),
            Command::Migrate(Migrate::Status(args)) => Some(&args.fleet),
            Command::Migrate(Migrate::Verify(args)) => Some(&args.fleet),
            Command::Migrate(Migrate::Drift(args)) => Some(&args.fleet),
            _ => None,
        }
    }

    /// The list of one target of the commands that take one (`baseline`, `reinit`, `abandon`:
    /// `--targets FILE`, `--targets-query SQL`, `--schemas-query SQL`), which selects their
    /// database or tenant schema.
    pub fn one_target_list(&self) -> Option<ListGiven<'_>> {
        match &self.command {
            Command::Migrate(Migrate::Baseline(args)) => args.target.list(),
            Command::Migrate(Migrate::Reinit(args)) => args.target.list(),
            Command::Migrate(Migrate::Abandon(args)) => args.target.list(),
            _ => None,
        }
    }

    /// The words of the command (`["migrate", "up"]`), as [`NEVER_CONNECT`] names commands.
    pub(crate) fn words(&self) -> &'static [&'static str] {
        match &self.command {
            Command::Lint(_) => &["lint"],
            Command::Migrate(command) => match command {
                Migrate::Generate(_) => &["migrate", "generate"],
                Migrate::Up(_) => &["migrate", "up"],
                Migrate::Down(_) => &["migrate", "down"],
                Migrate::Status(_) => &["migrate", "status"],
                Migrate::Baseline(_) => &["migrate", "baseline"],
                Migrate::Reinit(_) => &["migrate", "reinit"],
                Migrate::Abandon(_) => &["migrate", "abandon"],
                Migrate::Verify(_) => &["migrate", "verify"],
                Migrate::Drift(_) => &["migrate", "drift"],
            },
        }
    }

    /// The flags choosing a database given to a command that never connects ([`NEVER_CONNECT`]),
    /// as typed: it ignores them (`-c` aside, which names the project: [`CONNECTION_ARGS`];
    /// and `lint`'s `--env`, whose tracking table it checks, as its `-c`'s).
    pub(crate) fn ignored_connection_flags(&self) -> Vec<&'static str> {
        if !NEVER_CONNECT.contains(&self.words()) {
            return Vec::new();
        }
        let g = &self.global;
        [
            (g.env.is_some() && self.words() != ["lint"], "--env"),
            (g.database_url.is_some(), "--database-url"),
            (g.schema.is_some(), "--schema"),
            (g.wait_for_server.is_some(), "--wait-for-server"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }

    /// Whether the command is a preview (`--dry-run`): the commands its messages suggest are
    /// previews too ([`confiture::hint::Invocation::dry_run`]).
    pub fn dry_run(&self) -> bool {
        match &self.command {
            Command::Migrate(Migrate::Up(args)) => args.dry_run,
            Command::Migrate(Migrate::Down(args)) => args.dry_run,
            Command::Migrate(Migrate::Baseline(args)) => args.dry_run,
            Command::Migrate(Migrate::Reinit(args)) => args.dry_run,
            Command::Migrate(Migrate::Abandon(args)) => args.dry_run,
            Command::Migrate(Migrate::Generate(args)) => args.dry_run,
            _ => false,
        }
    }
}

/// The help heading of the flags that choose the database: shown by the commands that connect
/// (every one but [`NEVER_CONNECT`]).
pub const DATABASE_HEADING: &str = "Database (every command but `lint` and `migrate generate`)";

/// The commands that never connect, as their words (`migrate generate`): their help leaves
/// out [`CONNECTION_ARGS`], and those flags given to them are said to be ignored
/// ([`Cli::ignored_connection_flags`]).
pub const NEVER_CONNECT: &[&[&str]] = &[&["lint"], &["migrate", "generate"]];

/// What a command that never connects ([`NEVER_CONNECT`]) does not do, the one wording of why
/// it ignores the flags choosing a database and takes no flag of the commands that connect:
/// "`cargo confiture lint` never connects to a database".
pub(crate) const NEVER_CONNECTS: &str = "never connects to a database";

/// The flags that choose the database (their argument ids), with how the user types them.
/// `-c FILE` is one, but a command that never connects still reads which project holds the
/// file (`Workspace::of_environment_file`): hidden from their help, it is not ignored.
pub const CONNECTION_ARGS: &[(&str, &str)] = &[
    ("env", "--env"),
    ("config", "-c"),
    ("database_url", "--database-url"),
    ("schema", "--schema"),
    ("wait_for_server", "--wait-for-server"),
];

/// The command line as clap parses it: [`Cli`]'s, its global flags given to every subcommand,
/// with [`CONNECTION_ARGS`] hidden from the help of the commands that never connect
/// ([`NEVER_CONNECT`]). Every parse and every help text goes through it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut command = Cli::command();
    // A global flag reaches a subcommand that has none of its id when the command is built:
    // a hidden copy given first is the one the subcommand has.
    let hidden: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|arg| CONNECTION_ARGS.iter().any(|(id, _)| arg.get_id() == *id))
        .map(|arg| arg.clone().hide(true))
        .collect();
    for words in NEVER_CONNECT {
        command = add_in(command, words, &hidden);
    }
    command
}

/// `command` with `args` added to its subcommand `words`.
fn add_in(command: clap::Command, words: &[&str], args: &[clap::Arg]) -> clap::Command {
    match words {
        [] => command.args(args.iter().cloned()),
        [first, rest @ ..] => command.mut_subcommand(*first, |sub| add_in(sub, rest, args)),
    }
}

/// Parses `args` (the first being the program name) by [`command`].
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

#[derive(Debug, Args)]
#[command(next_help_heading = DATABASE_HEADING)]
pub struct Global {
    /// Environment to use: reads `<environments_dir>/<NAME>.yaml` (default dir `db/environments`)
    #[arg(long, short = 'e', global = true, value_name = "NAME", conflicts_with_all = ["config", "database_url"])]
    pub env: Option<String>,

    /// Environment file to use, instead of an environment name
    #[arg(
        long,
        short = 'c',
        global = true,
        value_name = "FILE",
        conflicts_with = "database_url"
    )]
    pub config: Option<PathBuf>,

    /// Database URL to use, instead of an environment (`postgresql://user@host:5432/db`)
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,

    /// Act on this tenant schema of the selected database, as `--schemas-query` acts on each
    /// of its tenants: the ledger `<NAME>.tb_confiture`, `search_path` pinned to the schema,
    /// the tenant's own migration lock (not with a target list; `drift` refuses it)
    #[arg(long, global = true, value_name = "NAME")]
    pub schema: Option<String>,

    /// Wait up to DURATION (`60s`) for a server that is not accepting connections yet — not
    /// listening, starting up, shutting down, recovering: a container or CI service started
    /// with this command — trying again until then; a refused user, password or database is
    /// never waited out (default: the environment's `migration.wait_for_server`, else 0: fail
    /// at once)
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        value_parser = duration,
        allow_hyphen_values = true
    )]
    pub wait_for_server: Option<Timeout>,

    /// Migrations directory (default: `migrations_dir` of `[package.metadata.confiture]` or
    /// `[workspace.metadata.confiture]`, or `db/migrations`)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help_heading = "Project and output (every command)"
    )]
    pub migrations_dir: Option<PathBuf>,

    /// Use this workspace member's settings (`[package.metadata.confiture]`), as if run in its
    /// directory
    #[arg(
        long,
        short = 'p',
        global = true,
        value_name = "NAME",
        help_heading = "Project and output (every command)"
    )]
    pub package: Option<String>,

    /// Use the settings of this `Cargo.toml`'s package (or workspace), as if run in its directory
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Project and output (every command)"
    )]
    pub manifest_path: Option<PathBuf>,

    /// Output format: a table for people, or one JSON document on stdout for scripts
    #[arg(long, global = true, value_enum, default_value_t = Format::Table, help_heading = "Project and output (every command)")]
    pub format: Format,

    /// When to colour the output (`auto` honours NO_COLOR, CLICOLOR, CLICOLOR_FORCE and TERM=dumb)
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto, value_name = "WHEN", help_heading = "Project and output (every command)")]
    pub color: Color,

    /// Print no progress on stderr. Results, errors and the `using ...` line (which database
    /// a command connects to) are still printed
    #[arg(
        long,
        short = 'q',
        global = true,
        help_heading = "Project and output (every command)"
    )]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate, apply, roll back and inspect migrations
    #[command(subcommand)]
    Migrate(Migrate),
    /// Check the migrations directory (the same checks as confiture-build; `--env`/`-c`: that
    /// environment's tracking table); exit 5 on errors
    Lint(LintArgs),
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Fail (exit 5) on warnings too, for CI; `-D warnings` is the same
    #[arg(long)]
    pub deny_warnings: bool,
    /// `-D warnings`: deny every warning, as rustc's flag does
    #[arg(short = 'D', value_name = "LINTS", value_parser = ["warnings"], action = clap::ArgAction::Append)]
    pub deny: Vec<String>,
}

impl LintArgs {
    /// Whether warnings fail the run.
    pub fn denies_warnings(&self) -> bool {
        self.denied_by().is_some()
    }

    /// The flag that denied warnings, as the user wrote it: `--deny-warnings`, or `-D warnings`.
    pub fn denied_by(&self) -> Option<&'static str> {
        if self.deny_warnings {
            Some("--deny-warnings")
        } else if !self.deny.is_empty() {
            Some("-D warnings")
        } else {
            None
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Migrate {
    /// Create the next migration pair: `NNN_<NAME>.up.sql` and `NNN_<NAME>.down.sql`
    Generate(GenerateArgs),
    /// Apply pending migrations
    Up(UpArgs),
    /// Roll back applied migrations (the newest one by default)
    Down(DownArgs),
    /// Show which migrations are applied; exit 0 up to date, 1 pending, 2 not initialised,
    /// 3 no connection, 5 files with errors (shown with the table), 6 ledger locked by another
    /// session, 7 history diverged
    Status(StatusArgs),
    /// Record migrations up to a version as applied, without running them
    Baseline(BaselineArgs),
    /// Re-initialise the ledger from the files: accept edited files' checksums, forget rows
    /// whose files are gone; `--through V` also records unapplied files up to V and forgets
    /// the rows above V (those whose files are on disk only with --yes)
    Reinit(ReinitArgs),
    /// Forget the interrupted run of a no-transaction migration (`status`: interrupted) once
    /// you have dealt with what it committed; run nothing: the migration is pending again (an
    /// interrupted rollback: still applied)
    Abandon(AbandonArgs),
    /// Prove on a scratch database that every down undoes its up and every up repeats after
    /// its down; exit 9 when one does not
    Verify(VerifyArgs),
    /// Compare the live database with its applied migrations replayed on a scratch database;
    /// exit 9 on drift. Only reads the live database
    Drift(DriftArgs),
}

#[derive(Debug, Args)]
pub struct ScratchArgs {
    /// Create the scratch database on this server (URL or conninfo; the database it names is
    /// only connected to) instead of the target's: for a server where the role may not
    /// create databases
    #[arg(long, value_name = "URL")]
    pub scratch_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Check the migrations from this version on (the earlier ones are applied unchecked)
    #[arg(long, value_name = "VERSION", value_parser = not_a_flag, allow_hyphen_values = true)]
    pub from: Option<String>,
    #[command(flatten)]
    pub scratch: ScratchArgs,
    /// For the migrations run on the scratch database, as `up`'s
    #[command(flatten)]
    pub timeouts: SqlTimeoutArgs,
    /// With a target list: verify once per distinct server and session of the list (user,
    /// connection options), each target reporting its run's result
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Also compare every migration applied with this directory of DDL files (`.sql`, run in
    /// path order), e.g. `db/schema`
    #[arg(long, value_name = "DIR")]
    pub schema_dir: Option<PathBuf>,
    #[command(flatten)]
    pub scratch: ScratchArgs,
    /// For the migrations (and schema files) run on the scratch databases, as `up`'s
    #[command(flatten)]
    pub timeouts: SqlTimeoutArgs,
    /// For the reads of the live database: its ledger, its schema
    #[command(flatten)]
    pub lock: LockArgs,
    /// With a target list: each target's live schema against its own history
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Name of the migration, lowercase snake_case (`add_bio_to_users`)
    pub name: String,
    /// Show the files that would be written, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    /// How long to wait for a lock another session holds before giving up (exit 6, naming
    /// it): another run's migration lock, a lock on the ledger (and, for `drift`, on what it
    /// reads of the live database), with a unit (`30s`, `500ms`, `2min`); `0` tries once and
    /// gives up at once
    #[arg(
        long,
        // Its old name, hidden: `lock_timeout` is PostgreSQL's setting for the SQL.
        alias = "lock-timeout",
        value_name = "DURATION",
        value_parser = duration,
        allow_hyphen_values = true,
        default_value_t = default_lock_wait()
    )]
    pub lock_wait: Timeout,
}

/// `migrate::DEFAULT_LOCK_WAIT`, the one place that says how long.
fn default_lock_wait() -> Timeout {
    Timeout::new(DEFAULT_LOCK_WAIT).expect("the default lock wait is below PostgreSQL's limit")
}

/// Timeouts for the SQL of the migrations (or rollbacks) a command runs.
#[derive(Debug, Args)]
pub struct SqlTimeoutArgs {
    /// `lock_timeout` for the migration SQL, with a unit (`5s`, `500ms`; default: the
    /// environment's, else 5s; 0 disables)
    #[arg(long, value_name = "DURATION", value_parser = sql_timeout, allow_hyphen_values = true)]
    pub lock_timeout_statement: Option<Timeout>,
    /// `statement_timeout` for the migration SQL, with a unit (`30s`, `10min`; default: the
    /// environment's, else none)
    #[arg(long, value_name = "DURATION", value_parser = sql_timeout, allow_hyphen_values = true)]
    pub statement_timeout: Option<Timeout>,
}

// The flags that take a duration, a number or a version also take a value that starts with
// `-` (`allow_hyphen_values`): `--lock-wait -1s` is then refused by the flag's own parser,
// naming the flag and the form it takes, as `--lock-wait=-1s` is, instead of clap taking
// `-1s` for a flag of its own. A flag given where the value goes (`--steps --dry-run`) is
// named as such by `no_flag`.

/// `Err` when `text`, given as a flag's value, is another flag (`--dry-run`, `-q`): the value
/// was left out. A `-` followed by a digit is a (negative) value, which the flag's parser refuses.
pub(crate) fn no_flag(text: &str) -> Result<(), String> {
    let flag = text.strip_prefix('-').is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    });
    if flag {
        return Err("is a flag, not a value: give the value right after the flag".to_string());
    }
    Ok(())
}

/// `--from`: any text but a flag (the library checks the version, naming the flag).
fn not_a_flag(text: &str) -> Result<String, String> {
    no_flag(text)?;
    Ok(text.to_string())
}

/// A duration flag whose `0` does not wait at all (`--lock-wait`, `--wait-for-server`), by
/// the library's one rule for timeouts (unit, PostgreSQL's limit): a malformed one is a usage
/// error (exit 64) like every other bad argument.
fn duration(text: &str) -> Result<Timeout, String> {
    duration_where_0_is(text, Zero::AtOnce)
}

/// A duration flag whose `0` is no limit (`--statement-timeout`, `--lock-timeout-statement`),
/// as [`duration`].
fn sql_timeout(text: &str) -> Result<Timeout, String> {
    duration_where_0_is(text, Zero::NoLimit)
}

fn duration_where_0_is(text: &str, zero: Zero) -> Result<Timeout, String> {
    no_flag(text)?;
    text.parse::<Timeout>()
        .map_err(|e| format!("{e}; {}", e.help_for(text, zero, str::to_string)))
}

/// The one rule of a whole-number flag (`--steps`, `--jobs`), as a version's (`--target`,
/// `--through`: `Version`): digits only, whitespace around them dropped — no sign (`+1`, which
/// Rust's parser takes and a version refuses).
fn whole_number<T: std::str::FromStr>(text: &str) -> Option<T> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `--steps`: a whole number (`0` is refused by the library, with the reason).
fn count(text: &str) -> Result<u32, String> {
    no_flag(text)?;
    whole_number::<u32>(text).ok_or_else(|| {
        format!(
            "must be 1 or more: a whole number of migrations (at most {})",
            u32::MAX
        )
    })
}

/// `--jobs`: how many targets at once, from 1 to `MAX_JOBS`.
fn jobs(text: &str) -> Result<u16, String> {
    no_flag(text)?;
    whole_number::<u16>(text)
        .filter(|n| (1..=MAX_JOBS).contains(&usize::from(*n)))
        .ok_or_else(|| format!("must be a whole number from 1 to {MAX_JOBS}"))
}

/// A version flag (`--target`, `--through`), by the library's `Version`.
fn version(text: &str) -> Result<Version, String> {
    no_flag(text)?;
    text.trim().parse::<Version>().map_err(|e| match e {
        VersionError::TooLarge => format!("is not a migration version: {e}"),
        _ => "is not a migration version; give the number at the start of a migration file \
              name, e.g. `3` or `003`"
            .to_string(),
    })
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply at most N pending migrations (N ≥ 1)
    #[arg(
        long,
        value_name = "N",
        value_parser = count,
        allow_hyphen_values = true,
        conflicts_with = "target"
    )]
    pub steps: Option<u32>,
    /// Apply pending migrations up to and including this version
    #[arg(long, value_name = "VERSION", value_parser = version, allow_hyphen_values = true)]
    pub target: Option<Version>,
    /// Connect and print the plan (each migration, its transaction mode, its SQL); write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Apply all pending migrations in one transaction (refused if one is marked no-transaction)
    #[arg(long)]
    pub single_transaction: bool,
    /// Apply pending migrations older than the newest applied one instead of refusing (exit 7)
    #[arg(long)]
    pub allow_out_of_order: bool,
    #[command(flatten)]
    pub timeouts: SqlTimeoutArgs,
    /// Create the database first when it does not exist
    #[arg(long)]
    pub create_database: bool,
    /// Apply migrations gated as destructive (`-- confiture:destructive`: data is lost); refused otherwise (exit 5)
    #[arg(long)]
    pub allow_destructive: bool,
    /// Accept a database a newer release migrated further (rows above the newest migration here, and no other divergence): apply nothing of them instead of refusing (exit 7)
    #[arg(long)]
    pub allow_newer_database: bool,
    /// Run the migrations on a database with no tracking table that already holds objects where they build; refused otherwise (exit 7: record what it has with `migrate baseline`)
    #[arg(long)]
    pub allow_non_empty: bool,
    /// Run again a no-transaction migration a killed or failed run started and never finished (`status`: interrupted), once its statements are safe to run twice or what it committed was undone; refused otherwise (exit 7)
    #[arg(long)]
    pub rerun_interrupted: bool,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub lock: StatusLockArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `status`'s `--lock-wait`: [`LockArgs`]'s flag (its one definition: name, old name, parser),
/// without its default, which for `status` is the environment's (`StatusOptions::lock_wait`).
#[derive(Debug)]
pub struct StatusLockArgs {
    /// `None`: not given.
    pub lock_wait: Option<Timeout>,
}

/// [`LockArgs`]'s argument id.
const LOCK_WAIT: &str = "lock_wait";

impl clap::Args for StatusLockArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        LockArgs::augment_args(cmd).mut_arg(LOCK_WAIT, |arg| {
            arg.default_value(None).help(
                "How long to wait for a lock another session holds on the ledger before giving \
                 up (exit 6, naming it); `0` tries once (default: the environment's \
                 `migration.lock_timeout`, else 30s)",
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for StatusLockArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        Ok(StatusLockArgs {
            lock_wait: matches.get_one::<Timeout>(LOCK_WAIT).copied(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// The path `--targets` reads: `-` is stdin, by the usual convention (`/dev/stdin`, which the
/// library reads as any pipe or file, and which suggested commands never repeat: it is gone
/// once read).
fn list_path(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(match value {
        "-" => PathBuf::from("/dev/stdin"),
        path => PathBuf::from(path),
    })
}

/// A target list given on the command line — `--targets FILE`, `--targets-query SQL` or
/// `--schemas-query SQL` — to a fleet's command ([`FleetArgs`]) or as the list of one target of
/// `baseline` and `reinit` ([`OneTargetArgs`]): the one reading of those three flags, resolved
/// by the library's one owner of target lists (`confiture::fleet::resolve_list`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListGiven<'a> {
    /// `--targets FILE`.
    File(&'a std::path::Path),
    /// `--targets-query SQL`.
    TargetsQuery(&'a str),
    /// `--schemas-query SQL`.
    SchemasQuery(&'a str),
}

impl<'a> ListGiven<'a> {
    /// The list the three flags give, if one (clap lets no more than one through).
    fn of(
        targets: &'a Option<PathBuf>,
        targets_query: &'a Option<String>,
        schemas_query: &'a Option<String>,
    ) -> Option<ListGiven<'a>> {
        match (targets, targets_query, schemas_query) {
            (Some(file), _, _) => Some(ListGiven::File(file)),
            (None, Some(sql), _) => Some(ListGiven::TargetsQuery(sql)),
            (None, None, Some(sql)) => Some(ListGiven::SchemasQuery(sql)),
            (None, None, None) => None,
        }
    }

    /// The flag that gave it: `--targets`, `--targets-query`, `--schemas-query`.
    pub fn flag(self) -> &'static str {
        match self {
            ListGiven::File(_) => "--targets",
            ListGiven::TargetsQuery(_) => "--targets-query",
            ListGiven::SchemasQuery(_) => "--schemas-query",
        }
    }

    /// The list, as the library resolves it.
    pub fn fleet_list(self) -> FleetList {
        match self {
            ListGiven::File(file) => FleetList::File(file.to_path_buf()),
            ListGiven::TargetsQuery(sql) => FleetList::TargetsQuery(sql.to_string()),
            ListGiven::SchemasQuery(sql) => FleetList::SchemasQuery(sql.to_string()),
        }
    }

    /// How messages name it: `tenants.txt`, `the targets query`, `the schemas query`.
    pub fn named(self) -> String {
        match self {
            ListGiven::File(file) => confiture::display::path(file),
            ListGiven::TargetsQuery(_) => "the targets query".to_string(),
            ListGiven::SchemasQuery(_) => "the schemas query".to_string(),
        }
    }
}

/// Many databases: the command runs against every target listed, not the environment's
/// database (which names the server and credentials for bare names, and runs the query). The
/// environment file's `fleet:` block gives the list when these flags do not.
#[derive(Debug, Args)]
#[command(next_help_heading = "Many databases (a database per tenant)")]
pub struct FleetArgs {
    /// Run against every database listed in FILE: one per line, a database name on the
    /// environment's server (with its credentials) or a postgresql:// URL; `#` lines are comments.
    /// `-` reads the list from stdin (a file named `-` is `./-`)
    #[arg(long, value_name = "FILE", group = "fleet_targets", value_parser = list_path)]
    pub targets: Option<PathBuf>,
    /// Run against every database this query returns (one column of database names or URLs),
    /// run read-only on the environment's database
    #[arg(long, value_name = "SQL", group = "fleet_targets")]
    pub targets_query: Option<String>,
    /// Run against every tenant schema this query returns (one column of schema names), run
    /// read-only on the environment's database: each tenant has its own ledger
    /// `<schema>.tb_confiture`, its own lock, and `search_path` pinned to its schema
    #[arg(long, value_name = "SQL", group = "fleet_targets")]
    pub schemas_query: Option<String>,
    /// How many targets at once (default: the environment file's `fleet.jobs`, else 4)
    #[arg(long, value_name = "N", value_parser = jobs, allow_hyphen_values = true)]
    pub jobs: Option<u16>,
    /// Go on after a target fails (default: the environment file's `fleet.keep_going`, else
    /// start no new target and let the running ones finish)
    #[arg(long)]
    pub keep_going: bool,
    /// Accept a list with no target (a fresh install with no tenant yet): nothing to do, exit 0.
    /// Without it, an empty list is refused (exit 5): a query with a wrong `WHERE` or a
    /// truncated file must not pass for a fleet that is up to date
    #[arg(long)]
    pub allow_empty: bool,
}

impl FleetArgs {
    /// The list these flags give, if one.
    pub fn list(&self) -> Option<ListGiven<'_>> {
        ListGiven::of(&self.targets, &self.targets_query, &self.schemas_query)
    }
}

/// `baseline` and `reinit`'s list of one target: the flags of a fleet's list ([`FleetArgs`]),
/// resolved the same way, which must name exactly one database or tenant schema — how a fleet
/// target's help selects that target, and how a target a query lists is reached as the fleet
/// reached it.
#[derive(Debug, Args)]
pub struct OneTargetArgs {
    /// Act on the one database listed in FILE (a database name on the environment's server,
    /// with its credentials and settings, or a postgresql:// URL), as a fleet's `--targets`
    /// lists it: how a fleet target's help selects that target (`--targets <(echo NAME)`). A
    /// list of no database or more than one is refused (exit 64)
    #[arg(long, value_name = "FILE", group = "one_target")]
    pub targets: Option<PathBuf>,
    /// Act on the one database this query returns, as a fleet's `--targets-query` (run
    /// read-only on the environment's database); none or more than one is refused (exit 64)
    #[arg(long, value_name = "SQL", group = "one_target")]
    pub targets_query: Option<String>,
    /// Act on the one tenant schema this query returns, as a fleet's `--schemas-query` (run
    /// read-only on the environment's database); none or more than one is refused (exit 64)
    #[arg(long, value_name = "SQL", group = "one_target")]
    pub schemas_query: Option<String>,
}

impl OneTargetArgs {
    /// The list these flags give, if one.
    pub fn list(&self) -> Option<ListGiven<'_>> {
        ListGiven::of(&self.targets, &self.targets_query, &self.schemas_query)
    }
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Roll back the N newest applied migrations (N ≥ 1; default 1)
    #[arg(
        long,
        value_name = "N",
        value_parser = count,
        allow_hyphen_values = true,
        conflicts_with = "target"
    )]
    pub steps: Option<u32>,
    /// Roll back every migration applied after this version (`--target 0 --yes` rolls back all)
    #[arg(long, value_name = "VERSION", value_parser = version, allow_hyphen_values = true)]
    pub target: Option<Version>,
    /// Confirm rolling back every migration (`--target 0` or below `first_version`, or `--steps`
    /// beyond those applied)
    #[arg(long)]
    pub yes: bool,
    /// Connect and print what would be rolled back; write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Roll back a migration whose up file changed since it was applied (refused otherwise,
    /// exit 7), trusting its down file to undo what ran
    #[arg(long)]
    pub allow_modified: bool,
    /// Roll back again a no-transaction migration whose rollback a killed or failed run started and never finished (`status`: interrupted), once its statements are safe to run twice; refused otherwise (exit 7)
    #[arg(long)]
    pub rerun_interrupted: bool,
    #[command(flatten)]
    pub timeouts: SqlTimeoutArgs,
    #[command(flatten)]
    pub lock: LockArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// Record every migration up to and including this version
    #[arg(long, value_name = "VERSION", value_parser = version, allow_hyphen_values = true)]
    pub through: Version,
    /// Confirm recording a migration whose apply was left part-way (`interrupted`): what its
    /// run did not commit is recorded as applied all the same
    #[arg(long)]
    pub yes: bool,
    /// Show what would be recorded; write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: OneTargetArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct AbandonArgs {
    /// The version of the interrupted migration, as `migrate status` shows it (`3` or `003`)
    #[arg(value_name = "VERSION", value_parser = version, allow_hyphen_values = true)]
    pub version: Version,
    /// Show which interrupted run would be forgotten; write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: OneTargetArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}

#[derive(Debug, Args)]
pub struct ReinitArgs {
    /// Also record the files with no ledger row up to this version as applied, without running
    /// them, and forget the rows above it (default: only rewrite the rows the ledger has)
    #[arg(long, value_name = "VERSION", value_parser = version, allow_hyphen_values = true)]
    pub through: Option<Version>,
    /// Confirm a reinit that forgets every row of the ledger (the migrations directory has none
    /// of the migrations they record), or rows above --through whose files are on disk (the
    /// next `migrate up` runs them), or that records a migration whose apply was left part-way,
    /// or edited files beside files that differ only by line endings
    #[arg(long)]
    pub yes: bool,
    /// Show what would happen to each row; write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub target: OneTargetArgs,
    #[command(flatten)]
    pub lock: LockArgs,
}
