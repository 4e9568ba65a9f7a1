//! Fleets: one command (`up`, `down`, `status`, `verify`, `drift`) run against many databases
//! — a database per tenant, shards — with bounded concurrency. Each target is an ordinary [`Migrator`] session
//! with its own connection, lock, ledger and atomicity; the fleet adds only the scheduling
//! and the summary, so a re-run applies only what is missing (resumable by construction).
//!
//! Scheduling: at most [`Fleet::jobs`] targets at once (default [`DEFAULT_JOBS`], std
//! threads), in list order. By default the first failure stops the fleet: no new target is
//! started, the running ones finish, the rest are reported `not_started`.
//! [`Fleet::keep_going`] runs every target whatever happens to the others. A stop from
//! outside ([`Fleet::stop_when`]) starts no new target either, and stops the running ones as
//! [`Migrator::stop_when`] stops one database.
//!
//! `verify` proves the migrations once per distinct server of the list and session there
//! (user, connection options), every target reporting its run's result ([`TargetReport::shared_with`]); `drift` compares each
//! target with its own history and refuses tenant schemas ([`Fleet::verify`],
//! [`Fleet::drift`]).
//!
//! The list comes from a file ([`read_list`]), a query ([`query_targets`],
//! [`query_schemas`]), or an environment file's `fleet:` block ([`resolve_list`] of
//! [`crate::config::FleetList`]).
//!
//! What is refused before any target is reached (files with errors `up` could run, `steps`
//! 0, an unknown `target`) is an `Err` of the whole fleet, decided once.
//!
//! # Exit code
//!
//! [`FleetReport::exit_code`]: 0 when every target ended with 0; otherwise the code the
//! targets that did not end with 0 share (4 when every failed target failed a migration; 1
//! for `status` when some targets have pending migrations and none has anything else; 9 for
//! `verify` or `drift` when every target that did not end with 0 found something); and
//! [`exit::FLEET_MIXED`] (10) when they ended with different codes. Each target's own code is
//! in its [`TargetReport`]. Targets not started have no code. A fleet stopped from outside
//! ([`Fleet::stop_when`]) ends with [`exit::INTERRUPTED`] (130), its summary `interrupted`,
//! when the stop stopped something: a target it interrupted (its own code 130) or one it
//! kept from starting. A stop that arrives once every target has finished changes nothing:
//! the fleet's code is its targets' ([`FleetSummary::interrupted`]).
//!
//! # Waves
//!
//! An xtask can roll out to a few canary tenants first, and to the rest only if they all
//! succeeded:
//!
//! ```no_run
//! use std::path::Path;
//!
//! use confiture::fleet::{self, Fleet};
//! use confiture::migrate::UpOptions;
//! use confiture::workspace::Workspace;
//!
//! fn roll_out() -> confiture::Result<u8> {
//!     let ws = Workspace::discover(Path::new("."))?;
//!     let prod = confiture::Migrator::from_env(&ws, "prod")?;
//!     let mut tenants = fleet::read_list(prod.environment(), Path::new("db/tenants.txt"))?;
//!     let rest = tenants.split_off(3.min(tenants.len()));
//!     let options = UpOptions::default();
//!
//!     // Wave 1: three canaries, one at a time.
//!     let canaries = Fleet::for_migrator(&prod, tenants).jobs(1).up(&options, &|_| {})?;
//!     if canaries.exit_code() != 0 {
//!         return Ok(canaries.exit_code());
//!     }
//!     // Wave 2: everyone else, 8 at a time, reporting every failure.
//!     let rest = Fleet::for_migrator(&prod, rest)
//!         .jobs(8)
//!         .keep_going(true)
//!         .up(&options, &|event| {
//!             if let fleet::Event::Finished { target, exit_code, .. } = event {
//!                 eprintln!("{target}: exit {exit_code}");
//!             }
//!         })?;
//!     for failed in rest.failed() {
//!         eprintln!("{} ({}): {:?}", failed.shown(), failed.source, failed.error);
//!     }
//!     Ok(rest.exit_code())
//! }
//! ```

mod absent;
mod checks;
mod query;
mod targets;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::drift::DriftReport;
use crate::embedded::EmbeddedMigrations;
use crate::error::Result;
use crate::exit;
use crate::files::{CheckOptions, Checked};
use crate::migrate::{
    DownOptions, DownReport, Outcome, Progress, ReportedError, StatusOptions, UpOptions, UpReport,
};
use crate::status::StatusReport;
use crate::verify::VerifyReport;
use crate::Migrator;

/// What the targets of one fleet command share ([`Fleet::files`]): the migrations, read once
/// for all of them, and the databases they reached ([`targets::Claims`]), so that a database
/// listed twice under two spellings of its server runs the command once.
#[derive(Default)]
struct Files {
    checked: Option<std::sync::Arc<Checked>>,
    claims: std::sync::Arc<targets::Claims>,
    /// The environment's server's databases, for a command that reaches only those that
    /// exist: a target listed by name that the server lacks is refused without connecting
    /// ([`absent::ServerDatabases`]). `None` for `up --create-database`, which creates them,
    /// and `drift`, whose refusals are its own; `verify` asks it for every target before
    /// grouping them by server, so that such a target never shares another's run.
    absent: Option<std::sync::Arc<absent::ServerDatabases>>,
}

pub use query::{one_schema, query_schemas, query_targets};
pub use targets::{parse_list, read_list, resolve_list, Target};
pub(crate) use targets::{pins_tenant, tenant_search_path, Claim};

/// Targets run at once unless [`Fleet::jobs`] says otherwise: enough to hide round trips,
/// few enough not to crowd one server's connection slots.
pub const DEFAULT_JOBS: usize = 4;

/// One command against many databases: see the module docs.
///
/// Its commands block until every target is done (on threads of their own): from async code,
/// call them in `tokio::task::spawn_blocking`.
pub struct Fleet {
    targets: Vec<Target>,
    migrations_dir: PathBuf,
    /// Who named `migrations_dir` ([`Migrator::migrations_dir_named_by`]).
    dir_named_by: crate::files::DirNamedBy,
    /// The migrations compiled into the binary, read instead of `migrations_dir`.
    embedded: Option<&'static EmbeddedMigrations>,
    check_options: CheckOptions,
    jobs: usize,
    keep_going: bool,
    /// Set from outside (a signal handler): no target starts any more ([`Fleet::stop_when`]).
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Each target's errors suggest commands completed for that target (its session's
    /// default, [`Migrator::suggesting`]); off when the fleet's migrator leaves them as
    /// written for a caller that completes them itself (the command line).
    complete_suggestions: bool,
    /// How the fleet's [`Migrator`] suggests commands, knowing the settings of its environment
    /// ([`crate::hint::Invocation::with_settings_of`]): each target's session suggests them
    /// for that target alone ([`crate::hint::Invocation::for_target`]), as the command line
    /// renders a target's text — a database listed by name with the environment's selection
    /// and a list of its name, any other by `--database-url <URL>` saying what that loses.
    /// None for [`Fleet::new`]: each target's session suggests its own.
    suggest: Option<crate::hint::Invocation>,
    /// Set when a writing session of this run opened the pooler check's second connection
    /// (`db::writable::check`: not direct): each running target may hold one more.
    second_connection: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The other workspace members sharing each target's ledger
    /// ([`Migrator::sharing_ledger_with`]): each target's session tells their rows apart.
    shared_ledgers: std::sync::Arc<Vec<crate::plan::SharedLedger>>,
    /// The targets holding a session of their database now ([`targets::Connected`]): what a
    /// target refused for too many connections counts as the run's ([`Fleet::blame_jobs`]).
    connected: targets::Connected,
    /// Whether the fleet's environment file has a `fleet:` block, whose `jobs` a help naming
    /// `--jobs` names too ([`Fleet::blame_jobs`]). False for [`Fleet::new`].
    fleet_block: bool,
}

/// What a running fleet reports as it goes: sent from its worker threads one at a time, in
/// the order things happened, with the counts at that moment. Keep the callback short: the
/// other workers wait while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A target was started.
    Started {
        /// Its place in the target list, from 0.
        index: usize,
        /// `user@host:port/db`.
        target: String,
        /// The fleet's counts once it started.
        counts: Counts,
    },
    /// A target finished (`failed`: its command returned an error).
    Finished {
        /// Its place in the target list, from 0.
        index: usize,
        /// `user@host:port/db`.
        target: String,
        /// The target's own exit code.
        exit_code: u8,
        /// Whether its command returned an error.
        failed: bool,
        /// The fleet's counts once it finished.
        counts: Counts,
    },
    /// A running target's command reported `progress` (`up` and `down`): the database it
    /// created (`--create-database`; a dry run: would create), a wait for its migration lock
    /// and who holds it, each migration. Sent as it happens, named by the target.
    Progress {
        /// Its place in the target list, from 0.
        index: usize,
        /// `user@host:port/db` (with ` schema <name>` for a tenant schema).
        target: String,
        /// What its command reported.
        progress: crate::migrate::Progress,
    },
    /// A running target's connection waits for a server that does not accept connections
    /// yet (`migration.wait_for_server`): what [`Migrator::on_server_wait`] is told on one
    /// database — at the first failed try, then about every
    /// [`WaitingForServer::EVERY`](crate::config::WaitingForServer::EVERY) — named by the
    /// target, sent as it is told (from the thread that connects, handed to the fleet's).
    WaitingForServer {
        /// Its place in the target list, from 0.
        index: usize,
        /// `user@host:port/db` (with ` schema <name>` for a tenant schema).
        target: String,
        /// The wait, as one database's watch is told of it.
        waiting: crate::config::WaitingForServer,
    },
}

/// A target's [`Event::WaitingForServer`] on its way from the thread that connects to the
/// fleet's relay ([`Fleet::schedule`]); `None` ends the relay.
type ToldWait = Option<(usize, String, crate::config::WaitingForServer)>;

/// Where a fleet stands, counted when an event is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// Targets in the fleet.
    pub total: usize,
    /// Finished, failed or not.
    pub done: usize,
    /// Finished with an error, the interrupted aside.
    pub failed: usize,
    /// Stopped from outside ([`Fleet::stop_when`]) while running: exit code 130, not failed.
    pub interrupted: usize,
    /// Running now.
    pub running: usize,
}

impl Counts {
    /// The finished targets whose command returned its report: [`FleetSummary::done`] as
    /// it stands now (the failed and interrupted aside), where [`Self::done`] counts every
    /// finished target. What a live line shows beside `failed`, so that it counts as the
    /// summary does.
    pub fn succeeded(&self) -> usize {
        self.done.saturating_sub(self.failed + self.interrupted)
    }
}

/// What happened to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// The command returned its report (for `status`, also with pending migrations).
    Done,
    /// The command returned an error (in `error`), other than being stopped.
    Failed,
    /// Stopped from outside while it ran ([`Fleet::stop_when`]): exit code 130, `error` of
    /// kind `interrupted` saying what it committed. Neither done nor failed.
    Interrupted,
    /// Not started: an earlier target failed and the fleet does not keep going.
    NotStarted,
}

impl TargetState {
    /// Done, failed, or interrupted: **the** rule of an interrupted target — its command
    /// failed with its own code [`exit::INTERRUPTED`] (kind `interrupted`: stopped from
    /// outside, [`Fleet::stop_when`]). What [`Event::Finished`] says (`failed`, `exit_code`)
    /// is enough to decide it.
    pub fn of(failed: bool, exit_code: u8) -> TargetState {
        match (failed, exit_code) {
            (false, _) => TargetState::Done,
            (true, exit::INTERRUPTED) => TargetState::Interrupted,
            (true, _) => TargetState::Failed,
        }
    }
}

/// The command's own report for one target, as its single-database JSON shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum CommandReport {
    /// `migrate up`'s report.
    Up(UpReport),
    /// `migrate down`'s report.
    Down(DownReport),
    /// `migrate status`'s report.
    Status(Box<StatusReport>),
    /// `migrate verify`'s report (on the first target of each server).
    Verify(Box<VerifyReport>),
    /// `migrate drift`'s report.
    Drift(Box<DriftReport>),
}

impl CommandReport {
    /// `up`, `down`: the versions whose fate is unknown ([`UpReport::unknown`],
    /// [`DownReport::unknown`]); empty for the other commands.
    pub fn unknown(&self) -> &[String] {
        match self {
            CommandReport::Up(r) => &r.unknown,
            CommandReport::Down(r) => &r.unknown,
            CommandReport::Status(_) | CommandReport::Verify(_) | CommandReport::Drift(_) => &[],
        }
    }

    /// The report's warnings, as its single-database command says them (`UpReport::warnings`:
    /// a migration applied out of order, a server `WARNING`, ...); `status` has none.
    pub fn warnings(&self) -> &[String] {
        match self {
            CommandReport::Up(r) => &r.warnings,
            CommandReport::Down(r) => &r.warnings,
            CommandReport::Verify(r) => &r.warnings,
            CommandReport::Drift(r) => &r.warnings,
            CommandReport::Status(_) => &[],
        }
    }
}

/// One target in a [`FleetReport`] (one entry of the JSON's `targets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TargetReport {
    /// `user@host:port/db`, never with a password: the database, a tenant's schema being
    /// [`Self::schema`] ([`Self::shown`] is both, as messages show them).
    pub target: String,
    /// Where it was listed (`tenants.txt:12`).
    pub source: String,
    /// The tenant schema of a schema-per-tenant target ([`Target::schema`]): what a
    /// suggested command adds to act on it alone (`--schema tenant_7`); absent from the JSON
    /// for a database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// [`Target::entry`]: the database name of a target listed by name, which a suggested
    /// command lists alone to act on it with the same environment
    /// ([`crate::hint::OneTarget`]). Not in the JSON (`target` shows the database).
    #[serde(skip)]
    pub entry: Option<String>,
    /// [`crate::hint::OneTarget::environments_own`]: listed by name, and the environment's
    /// own database. Not in the JSON.
    #[serde(skip)]
    pub environments_own: bool,
    /// Done, failed, interrupted or not started.
    pub state: TargetState,
    /// The target's own exit code (the single-database command's); null when not started.
    pub exit_code: Option<u8>,
    /// `up`: versions this run applied; `status`: versions the ledger records; `drift`: the
    /// versions replayed (the ledger's applied migrations).
    pub applied: Vec<String>,
    /// `down`: versions this run rolled back.
    pub rolled_back: Vec<String>,
    /// `up`, `down`: versions whose fate is unknown — the connection was lost while they ran
    /// and no new connection could read the ledger; they may have committed (`migrate status`
    /// tells). Its command report's list ([`CommandReport::unknown`]), in both directions.
    pub unknown: Vec<String>,
    /// The error, as a single-database report's `errors` shows it (file and line of a failed
    /// migration, SQLSTATE).
    pub error: Option<ReportedError>,
    /// Wall-clock time of its command; null when not started.
    pub duration_ms: Option<u64>,
    /// The command's full report; null when not started or when it failed before having one,
    /// and for `verify` on the targets that share another's result ([`Self::shared_with`]).
    pub report: Option<CommandReport>,
    /// `verify`: the target whose run on the same server is this one's result too, and whose
    /// entry holds the report, as messages show it ([`TargetReport::shown`]:
    /// `user@host:port/db`, then a tenant's `schema tenant_7`, which tells the tenants of one
    /// database apart); absent from the JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_with: Option<String>,
    /// `up --create-database`: the database's name on the server when the run created it
    /// (a dry run: when it does not exist and would be created); absent from the JSON
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_database: Option<String>,
}

impl TargetReport {
    /// The target as messages show it: its database, then a tenant's schema
    /// (`user@host:port/db schema tenant_7`), as [`Target::shown`] does.
    pub fn shown(&self) -> String {
        targets::shown_with_schema(&self.target, self.schema.as_deref())
    }

    /// How the commands this target's text suggests address it alone
    /// ([`crate::hint::Invocation::for_target`]).
    pub fn addressed(&self) -> crate::hint::OneTarget {
        crate::hint::OneTarget {
            schema: self.schema.clone(),
            entry: self.entry.clone(),
            environments_own: self.environments_own,
        }
    }
}

/// The totals of a [`FleetReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FleetSummary {
    /// Targets in the fleet.
    pub total: usize,
    /// Targets whose command returned its report (state `done`; for `status`, those with
    /// pending migrations too): the failed, interrupted and not started aside, so that
    /// `done`, `failed`, `interrupted_targets` and `not_started` add up to `total`. (The
    /// live [`Counts::done`] counts every finished target, failed or not.)
    pub done: usize,
    /// Targets whose command returned an error, the interrupted aside.
    pub failed: usize,
    /// Targets stopped from outside while they ran (state `interrupted`, exit code 130).
    pub interrupted_targets: usize,
    /// Targets not started (an earlier one failed, no `keep_going`).
    pub not_started: usize,
    /// [`FleetReport::exit_code`].
    pub exit_code: u8,
    /// Targets run at once, at most.
    pub jobs: usize,
    /// Whether the fleet went on after a failure.
    pub keep_going: bool,
    /// Whether a stop from outside ([`Fleet::stop_when`]: SIGINT in the CLI) stopped
    /// something: a running target it interrupted (exit code 130: its running migration
    /// rolled back, its committed ones kept) or a target it kept from starting (`not_started`).
    /// A stop that came once every target had finished is not an interruption: the outcome
    /// the ledgers show wins.
    pub interrupted: bool,
    /// Wall-clock time of the whole fleet.
    pub duration_ms: u64,
}

/// The result of a fleet: one entry per target, in list order, and the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FleetReport {
    /// `up`, `down`, `status`, `verify` or `drift`.
    pub command: &'static str,
    /// One entry per target, in list order.
    pub targets: Vec<TargetReport>,
    /// The totals.
    pub summary: FleetSummary,
    /// The diagnostics of the files every target read, errors and warnings, from the fleet's
    /// one check of them, before any target runs: the same files on every target, so said
    /// once for the fleet, whether or not any target connected (the CLI's `status`: below its
    /// table and in its JSON's `errors`). Each target's own report keeps its own reading.
    #[serde(skip)]
    pub diagnostics: Vec<crate::Diagnostic>,
}

impl FleetReport {
    /// The fleet's exit code (the rule is in the module docs).
    pub fn exit_code(&self) -> u8 {
        self.summary.exit_code
    }

    /// The targets whose command failed, in list order (not those interrupted: see
    /// [`Self::ended_with_error`]).
    pub fn failed(&self) -> impl Iterator<Item = &TargetReport> {
        self.targets
            .iter()
            .filter(|t| t.state == TargetState::Failed)
    }

    /// The targets whose command ended with an error, failed or interrupted, in list order.
    pub fn ended_with_error(&self) -> impl Iterator<Item = &TargetReport> {
        self.targets
            .iter()
            .filter(|t| matches!(t.state, TargetState::Failed | TargetState::Interrupted))
    }
}

/// A fleet command, for [`check_request`]: what it is asked to do, its targets aside.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Request<'a> {
    /// [`Fleet::up`] with these options.
    Up(&'a UpOptions),
    /// [`Fleet::down`] with these options.
    Down(&'a DownOptions),
    /// [`Fleet::status`].
    Status,
    /// [`Fleet::verify`] with these options.
    Verify(&'a crate::verify::VerifyOptions),
    /// [`Fleet::drift`] (of a list of tenant schemas when `tenant_schemas`).
    Drift {
        /// Whether the list is one of tenant schemas (`--schemas-query`).
        tenant_schemas: bool,
    },
}

/// What every database of a fleet would refuse, decided by `migrator`'s files and the request
/// alone — files with errors, `steps` 0, `steps` with `target`, `target` 0 without `yes`, an
/// unknown `target` or `from`, `drift` of tenant schemas. The fleet's commands decide it with
/// this too (the one place); a caller calls it first, before reading the target list, so that
/// such a request is refused before any query runs (a targets query may be slow, or wait on a
/// lock). `migrator` is the session of the list's environment (its files and checks).
pub fn check_request(migrator: &Migrator, request: Request<'_>) -> Result<()> {
    migrator.suggested(refusal(migrator, request))
}

fn refusal(migrator: &Migrator, request: Request<'_>) -> Result<()> {
    match request {
        Request::Up(options) => {
            options.check_durations()?;
            migrator.up_request(options).map(drop)
        }
        Request::Down(options) => {
            options.check_durations()?;
            migrator.down_request(options)
        }
        Request::Verify(options) => migrator.verify_request(options).map(drop),
        Request::Status
        | Request::Drift {
            tenant_schemas: false,
        } => migrator.read_checked().map(drop),
        Request::Drift {
            tenant_schemas: true,
        } => Err(crate::drift::no_tenant_drift("the schemas query")),
    }
}

/// 0 when every code is 0; else the one non-zero code they share; else [`exit::FLEET_MIXED`].
pub fn combined_exit_code(codes: impl IntoIterator<Item = u8>) -> u8 {
    let mut shared = None;
    for code in codes.into_iter().filter(|&c| c != exit::SUCCESS) {
        match shared {
            None => shared = Some(code),
            Some(c) if c == code => {}
            Some(_) => return exit::FLEET_MIXED,
        }
    }
    shared.unwrap_or(exit::SUCCESS)
}

/// The shared state of a running fleet's workers.
struct Schedule {
    /// The index of the next target to start (list order).
    next: usize,
    /// A failure stopped the fleet: no target starts any more.
    stopped: bool,
    /// A stop from outside kept a target from starting ([`Fleet::stop_when`]).
    held_back: bool,
    slots: Vec<Option<(Ran, u64)>>,
    counts: Counts,
}

/// What [`Fleet::schedule`] produced: one slot per target scheduled (`None`: not started),
/// and whether a stop from outside kept one from starting.
struct Scheduled {
    slots: Vec<Option<(Ran, u64)>>,
    held_back: bool,
}

/// What one target's command produced, before it becomes a [`TargetReport`].
#[derive(Clone)]
struct Ran {
    exit_code: u8,
    failed: bool,
    error: Option<ReportedError>,
    report: Option<CommandReport>,
    /// The target whose run this result is (`verify`: the first target of its server).
    shared_with: Option<String>,
    /// The database `--create-database` created on the way (a dry run: would create).
    created_database: Option<String>,
}

impl Ran {
    /// Done, failed, or interrupted ([`TargetState::of`]).
    fn state(&self) -> TargetState {
        TargetState::of(self.failed, self.exit_code)
    }

    /// A command that ran to its end on the target, with `exit_code`.
    fn completed(exit_code: u8, report: CommandReport) -> Ran {
        Ran {
            exit_code,
            failed: false,
            error: None,
            report: Some(report),
            shared_with: None,
            created_database: None,
        }
    }

    /// A command refused or failed on the target before it had a report.
    fn refused(error: &crate::Error) -> Ran {
        Ran {
            exit_code: error.exit_code(),
            failed: true,
            error: Some(ReportedError::of(error)),
            report: None,
            shared_with: None,
            created_database: None,
        }
    }

    /// The outcome of a command that reports even when it fails: the error it reported
    /// last (its own words, with file and line), or the error itself.
    fn of<R: TargetOutcome>(outcome: Outcome<R>) -> Ran {
        match outcome {
            Ok(report) => Ran::completed(report.exit_code(), report.into_command()),
            Err(failed) => Ran {
                exit_code: failed.error.exit_code(),
                failed: true,
                error: Some(reported(&failed.error, failed.report.errors())),
                report: Some(failed.report.into_command()),
                shared_with: None,
                created_database: None,
            },
        }
    }
}

/// A command's report as a fleet keeps it ([`Ran::of`]).
trait TargetOutcome {
    /// The exit code of the command that completed with this report.
    fn exit_code(&self) -> u8;
    /// The errors the command reported.
    fn errors(&self) -> &[ReportedError];
    /// The report as one of the fleet's [`CommandReport`]s.
    fn into_command(self) -> CommandReport;
}

impl TargetOutcome for UpReport {
    fn exit_code(&self) -> u8 {
        exit::SUCCESS
    }
    fn errors(&self) -> &[ReportedError] {
        &self.errors
    }
    fn into_command(self) -> CommandReport {
        CommandReport::Up(self)
    }
}

impl TargetOutcome for DownReport {
    fn exit_code(&self) -> u8 {
        exit::SUCCESS
    }
    fn errors(&self) -> &[ReportedError] {
        &self.errors
    }
    fn into_command(self) -> CommandReport {
        CommandReport::Down(self)
    }
}

impl TargetOutcome for VerifyReport {
    fn exit_code(&self) -> u8 {
        VerifyReport::exit_code(self)
    }
    fn errors(&self) -> &[ReportedError] {
        &self.errors
    }
    fn into_command(self) -> CommandReport {
        CommandReport::Verify(Box::new(self))
    }
}

impl TargetOutcome for DriftReport {
    fn exit_code(&self) -> u8 {
        DriftReport::exit_code(self)
    }
    fn errors(&self) -> &[ReportedError] {
        &self.errors
    }
    fn into_command(self) -> CommandReport {
        CommandReport::Drift(Box::new(self))
    }
}

impl Fleet {
    /// `targets`, with the migrations in `migrations_dir`. Nothing is read or connected until
    /// a command runs.
    pub fn new(
        targets: Vec<Target>,
        migrations_dir: impl Into<PathBuf>,
        check_options: CheckOptions,
    ) -> Fleet {
        Fleet {
            targets,
            migrations_dir: migrations_dir.into(),
            dir_named_by: crate::files::DirNamedBy::Library,
            embedded: None,
            check_options,
            jobs: DEFAULT_JOBS,
            keep_going: false,
            stop: None,
            second_connection: Default::default(),
            shared_ledgers: Default::default(),
            connected: Default::default(),
            complete_suggestions: true,
            suggest: None,
            fleet_block: false,
        }
    }

    /// `targets`, with the migrations of `migrator`: its directory and checks, or the set
    /// embedded in the binary ([`Migrator::from_embedded`]).
    pub fn for_migrator(migrator: &Migrator, targets: Vec<Target>) -> Fleet {
        let mut fleet = Fleet::new(
            targets,
            migrator.migrations_dir(),
            migrator.check_options.clone(),
        );
        fleet.embedded = migrator.embedded();
        fleet.dir_named_by = migrator.dir_named_by;
        fleet.shared_ledgers = std::sync::Arc::clone(&migrator.shared_ledgers);
        fleet.complete_suggestions = !migrator.suggest.is_empty();
        fleet.fleet_block = migrator.environment().fleet.is_some();
        fleet.suggest = fleet.complete_suggestions.then(|| {
            (migrator.suggest.clone())
                .in_fleet_of(migrator.environment(), Some(migrator.migrations_dir()))
        });
        fleet
    }

    /// At most `n` targets at once (0 counts as 1).
    pub fn jobs(mut self, n: usize) -> Fleet {
        self.jobs = n.max(1);
        self
    }

    /// Run every target even after one failed (default: start no new target after a failure).
    pub fn keep_going(mut self, keep_going: bool) -> Fleet {
        self.keep_going = keep_going;
        self
    }

    /// Stop once `flag` is set (a CLI sets it on SIGINT): no target starts any more (those
    /// are `not_started`), and every running target stops as [`Migrator::stop_when`] stops
    /// one database — the statement running there is cancelled, its migration rolled back,
    /// the ones it committed kept — and ends with its own code 130. The report then says
    /// [`FleetSummary::interrupted`] (exit 130); a flag set once every target has finished
    /// changes nothing.
    pub fn stop_when(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Fleet {
        self.stop = Some(flag);
        self
    }

    fn stop_requested(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The targets, in list order.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// A session for `target` with the migrations `files` (read once per command).
    fn migrator(&self, target: &Target, files: &Files) -> Migrator {
        let env = target.environment.clone();
        let mut migrator = match self.embedded {
            Some(embedded) => Migrator::from_embedded(env, embedded),
            None => Migrator::new(env, self.migrations_dir.clone(), self.check_options.clone())
                .migrations_dir_named_by(self.dir_named_by),
        };
        migrator.preloaded = files.checked.clone();
        if let (Some(databases), true) = (&files.absent, target.entry().is_some()) {
            let (databases, stop) = (databases.clone(), self.stop.clone());
            migrator.before_connecting(move |env| databases.check(env, stop));
        }
        migrator.claim = Some(files.claims.claim(target));
        migrator.in_fleet = true;
        // The fleet's stop is each running target's: the statement running there is
        // cancelled, as on one database.
        migrator.stop = self.stop.clone();
        migrator.second_connection = Some(self.second_connection.clone());
        migrator.shared_ledgers = std::sync::Arc::clone(&self.shared_ledgers);
        if !self.complete_suggestions {
            migrator.suggest = crate::hint::Invocation::default();
        } else if let Some(suggest) = &self.suggest {
            migrator.suggest = suggest.for_target(target.addressed());
        }
        migrator
    }

    /// The migrations every target of one command gets: read and checked once, when the
    /// command starts (nothing for an empty list), so that all targets run the same files —
    /// one edited while the fleet runs reaches none of them — and a directory of thousands of
    /// files is not read again for each of hundreds of targets. With them, the command's
    /// empty [`targets::Claims`], and when `only_existing` (the command reaches only
    /// databases that exist) its [`absent::ServerDatabases`].
    fn files(&self, only_existing: bool) -> Result<Files> {
        let Some(first) = self.targets.first() else {
            return Ok(Files::default());
        };
        let checked = self.migrator(first, &Files::default()).load()?;
        Ok(Files {
            checked: Some(std::sync::Arc::new(checked)),
            claims: std::sync::Arc::new(targets::Claims::counting(self.connected.clone())),
            absent: only_existing.then(Default::default),
        })
    }

    /// `migrate up` on every target. Refused as a whole (before connecting anywhere) when
    /// `up` would refuse it on any database: files with errors it could run, `steps` 0, an
    /// unknown `target`.
    pub fn up(
        &self,
        options: &UpOptions,
        progress: &(dyn Fn(&Event) + Sync),
    ) -> Result<FleetReport> {
        let files = self.files(!options.create_database)?;
        if let Some(first) = self.targets.first() {
            // Decided by the files and the options alone: the same answer for every target.
            check_request(&self.migrator(first, &files), Request::Up(options))?;
        }
        Ok(self.run(
            "up",
            crate::migrator::CONNECTIONS_AT_ONCE,
            &files,
            progress,
            |target, sink, held| {
                Ran::of(held.insert(self.migrator(target, &files)).up(options, sink))
            },
        ))
    }

    /// `migrate down` on every target. Refused as a whole (before connecting anywhere) when
    /// `down` would refuse it on any database: `steps` 0, `target` 0 without `yes`, an
    /// unknown `target`.
    pub fn down(
        &self,
        options: &DownOptions,
        progress: &(dyn Fn(&Event) + Sync),
    ) -> Result<FleetReport> {
        let files = self.files(true)?;
        if let Some(first) = self.targets.first() {
            check_request(&self.migrator(first, &files), Request::Down(options))?;
        }
        Ok(self.run(
            "down",
            crate::migrator::CONNECTIONS_AT_ONCE,
            &files,
            progress,
            |target, sink, held| {
                Ran::of(
                    held.insert(self.migrator(target, &files))
                        .down(options, sink),
                )
            },
        ))
    }

    /// `migrate status` on every target (read-only). A target whose status could not be read
    /// failed; one with pending migrations is done, with its exit code (1).
    pub fn status(&self, progress: &(dyn Fn(&Event) + Sync)) -> Result<FleetReport> {
        self.status_with(&StatusOptions::default(), progress)
    }

    /// [`Fleet::status`] with `options` (`--lock-wait`), on every target.
    pub fn status_with(
        &self,
        options: &StatusOptions,
        progress: &(dyn Fn(&Event) + Sync),
    ) -> Result<FleetReport> {
        // Unreadable files are the same failure on every database: refused once.
        let files = self.files(true)?;
        Ok(self.run(
            "status",
            crate::migrator::CONNECTIONS_AT_ONCE,
            &files,
            progress,
            |target, _, held| match held
                .insert(self.migrator(target, &files))
                .status_with(options)
            {
                Ok(report) => {
                    Ran::completed(report.exit_code(), CommandReport::Status(Box::new(report)))
                }
                Err(error) => Ran::refused(&error),
            },
        ))
    }

    /// Runs `command` on every target, at most `jobs` at once, in list order. `connections`:
    /// the most connections `command` holds at once on one target (its command's
    /// `CONNECTIONS_AT_ONCE`), which the help of a target refused for too many connections
    /// counts.
    fn run(
        &self,
        name: &'static str,
        connections: usize,
        files: &Files,
        progress: &(dyn Fn(&Event) + Sync),
        command: impl Fn(&Target, &mut dyn FnMut(Progress), &mut Option<Migrator>) -> Ran + Sync,
    ) -> FleetReport {
        let start = Instant::now();
        let all: Vec<(usize, &Target)> = self.targets.iter().enumerate().collect();
        let scheduled = self.schedule(&all, connections, progress, command);
        self.report(name, files, scheduled, start)
    }

    /// Runs `command` on each of `targets` (each with its place in the target list), at most
    /// `jobs` at once, in their order; what each produced, `None` for those not started.
    /// `connections` as for [`Fleet::run`].
    fn schedule(
        &self,
        targets: &[(usize, &Target)],
        connections: usize,
        progress: &(dyn Fn(&Event) + Sync),
        command: impl Fn(&Target, &mut dyn FnMut(Progress), &mut Option<Migrator>) -> Ran + Sync,
    ) -> Scheduled {
        let total = targets.len();
        // One lock over the schedule: claiming the next target, the stop flag, the counts and
        // the events. Events are sent under it, so they arrive in order with true counts, and
        // no target starts once a failure that stops the fleet is recorded.
        let state = Mutex::new(Schedule {
            next: 0,
            stopped: false,
            held_back: false,
            slots: (0..total).map(|_| None).collect(),
            counts: Counts {
                total,
                ..Counts::default()
            },
        });
        let workers = self.jobs.min(total);
        // A panic on a worker is the caller's (its progress callback): it stops the fleet as
        // a failure does — no target starts after it, whatever `keep_going` — and is resumed
        // here with its own payload once the running targets have ended.
        let panicked = Mutex::new(None);
        let caught = |run: &dyn Fn()| {
            if let Err(payload) = std::panic::catch_unwind(AssertUnwindSafe(run)) {
                lock(&state).stopped = true;
                lock(&panicked).get_or_insert(payload);
            }
        };
        // A target's wait for its server is told on whichever thread connects, by a watch
        // that must outlive the command (`Migrator::on_server_wait`): it sends it here, and
        // this relay sends it on as an event, under the schedule's lock as the others, until
        // every worker has ended (a wait told later is dropped).
        let (tell, told) = std::sync::mpsc::channel::<ToldWait>();
        std::thread::scope(|scope| {
            let (state, caught) = (&state, &caught);
            let relay = scope.spawn(move || {
                caught(&|| {
                    while let Ok(Some((index, target, waiting))) = told.recv() {
                        let _s = lock(state);
                        progress(&Event::WaitingForServer {
                            index,
                            target,
                            waiting,
                        });
                    }
                })
            });
            let workers: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        caught(&|| {
                            self.work(targets, connections, state, progress, &command, &tell)
                        })
                    })
                })
                .collect();
            for worker in workers {
                let _ = worker.join();
            }
            let _ = tell.send(None);
            let _ = relay.join();
        });
        if let Some(payload) = panicked.into_inner().unwrap_or_else(|p| p.into_inner()) {
            std::panic::resume_unwind(payload);
        }
        let state = state.into_inner().unwrap_or_else(|p| p.into_inner());
        Scheduled {
            slots: state.slots,
            held_back: state.held_back,
        }
    }

    /// One worker: claims the next target and runs it, until none is left or the fleet stopped.
    fn work(
        &self,
        targets: &[(usize, &Target)],
        connections: usize,
        state: &Mutex<Schedule>,
        progress: &(dyn Fn(&Event) + Sync),
        command: &(impl Fn(&Target, &mut dyn FnMut(Progress), &mut Option<Migrator>) -> Ran + Sync),
        tell: &std::sync::mpsc::Sender<ToldWait>,
    ) {
        loop {
            let (slot, index, target, shown) = {
                let mut s = lock(state);
                let slot = s.next;
                // Poisoned: a progress callback panicked under this lock, and its worker
                // has not marked the fleet stopped yet.
                let stopped = s.stopped || state.is_poisoned();
                let Some(&(index, target)) = targets.get(slot).filter(|_| !stopped) else {
                    return;
                };
                if self.stop_requested() {
                    s.held_back = true;
                    return;
                }
                s.next += 1;
                s.counts.running += 1;
                let shown = target.shown();
                progress(&Event::Started {
                    index,
                    target: shown.clone(),
                    counts: s.counts,
                });
                (slot, index, target, shown)
            };
            lock(&self.connected).started(&target.source);
            // Its wait for its server, told as [`Event::WaitingForServer`] (over a watch the
            // list's environment may have had: one database's, which names no target).
            let mut target = target.clone();
            let (tell, named) = (tell.clone(), shown.clone());
            target.environment.server_wait_watch = Some(crate::config::ServerWaitWatch(
                std::sync::Arc::new(move |waiting: &crate::config::WaitingForServer| {
                    let _ = tell.send(Some((index, named.clone(), waiting.clone())));
                }),
            ));
            let target = &target;
            let began = Instant::now();
            // The target's own events, named by it, under the schedule's lock as the others.
            let forward = |p: Progress| {
                let _s = lock(state);
                progress(&Event::Progress {
                    index,
                    target: shown.clone(),
                    progress: p,
                });
            };
            let mut created = None;
            // The target's session, when the command leaves it here: closed only once its
            // outcome is recorded, so that no target starts after a failure that stops the
            // fleet could be seen on the server (the failed run's session gone).
            let mut held: Option<Migrator> = None;
            let mut ran = command(
                target,
                &mut |p: Progress| {
                    if let Progress::DatabaseCreated { database }
                    | Progress::WouldCreateDatabase { database } = &p
                    {
                        created = Some(database.clone());
                    }
                    forward(p);
                },
                &mut held,
            );
            ran.created_database = created;
            if let Some(error) = ran.error.as_mut() {
                self.blame_jobs(error, targets.len(), connections, target);
            }
            let ms = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
            let mut s = lock(state);
            let (exit_code, failed) = (ran.exit_code, ran.failed);
            s.stopped |= failed && !self.keep_going;
            s.counts.running -= 1;
            s.counts.done += 1;
            match ran.state() {
                TargetState::Interrupted => s.counts.interrupted += 1,
                TargetState::Failed => s.counts.failed += 1,
                _ => {}
            }
            s.slots[slot] = Some((ran, ms));
            progress(&Event::Finished {
                index,
                target: shown,
                exit_code,
                failed,
                counts: s.counts,
            });
            drop(s);
            drop(held);
            // Its sessions are closed (or are the server's to end): no longer the run's.
            lock(&self.connected).ended(&target.source);
        }
    }

    /// The report of a fleet whose targets ended as `scheduled.slots` says (one per target,
    /// in order).
    fn report(
        &self,
        name: &'static str,
        files: &Files,
        scheduled: Scheduled,
        start: Instant,
    ) -> FleetReport {
        let targets: Vec<TargetReport> = self
            .targets
            .iter()
            .zip(scheduled.slots)
            .map(|(target, slot)| target_report(target, slot))
            .collect();
        let count = |state| targets.iter().filter(|t| t.state == state).count();
        // The one rule of an interrupted fleet: the stop stopped something — a target it
        // interrupted (its own code is 130) or one it kept from starting. A stop that came
        // after every target finished changes nothing: the outcome the ledgers show wins.
        let interrupted =
            scheduled.held_back || targets.iter().any(|t| t.state == TargetState::Interrupted);
        let summary = FleetSummary {
            total: self.targets.len(),
            done: count(TargetState::Done),
            failed: count(TargetState::Failed),
            interrupted_targets: count(TargetState::Interrupted),
            not_started: count(TargetState::NotStarted),
            // Stopped from outside: the fleet did not run to its end, whatever the others did.
            exit_code: if interrupted {
                exit::INTERRUPTED
            } else {
                combined_exit_code(targets.iter().filter_map(|t| t.exit_code))
            },
            jobs: self.jobs,
            keep_going: self.keep_going,
            interrupted,
            duration_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        FleetReport {
            command: name,
            targets,
            summary,
            diagnostics: (files.checked.as_ref())
                .map(|checked| checked.diagnostics.clone())
                .unwrap_or_default(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A progress callback that panicked leaves the data whole; the poison only tells the
    // workers to start no other target (`Fleet::work`).
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The error of a failed command as its report shows it (with file and line), else as data.
impl Fleet {
    /// A target refused for too many connections (`53300`: the server's `max_connections`, a
    /// database's or a role's `CONNECTION LIMIT`) while this fleet runs several of its
    /// `scheduled` targets at once: the fleet's own connections are the likely cause, so the
    /// help says to run fewer first. Each running target holds `connections` (its command's),
    /// one more when the run's writing sessions open the pooler check's second connection
    /// ([`Fleet::second_connection`]). `target`: the refused one.
    fn blame_jobs(
        &self,
        error: &mut ReportedError,
        scheduled: usize,
        connections: usize,
        target: &Target,
    ) {
        let too_many = postgres::error::SqlState::TOO_MANY_CONNECTIONS.code();
        // No more run at once than there are targets to run (`verify`: one per server).
        let at_once = self.jobs.min(scheduled);
        if at_once < 2 || error.sqlstate.as_deref() != Some(too_many) {
            return;
        }
        let checked = self
            .second_connection
            .load(std::sync::atomic::Ordering::SeqCst);
        let each = connections + usize::from(checked);
        let why = if checked {
            " (the check for a transaction pooler's second connection included: a Unix socket, \
             a pooler or NAT)"
        } else {
            ""
        };
        let held = at_once * each;
        // What the run held when refused: its other targets connected to their database then
        // (not now: one that ended since is what ended the retries of the refused connection),
        // `each` connections apiece, and the refused target's own but the one refused (its
        // session is open when the pooler check's second connection is what was refused) —
        // not `held`, what `--jobs` lets it hold, which the limit already refused.
        let (others, own) = lock(&self.connected).held_when_refused(&target.source);
        let held_then = others.min(at_once - 1) * each + if own { each - 1 } else { 0 };
        let fit = match held_then {
            0 => "e.g. --jobs 1 (the run held no connection when refused: other sessions fill \
                  the limit)"
                .to_string(),
            n => format!(
                "e.g. --jobs {} (what fits in the {} it held when refused)",
                (n / each).max(1),
                match n {
                    1 => "1 connection".to_string(),
                    n => format!("{n} connections"),
                }
            ),
        };
        // The block's `jobs` is named only where there is a block to set it in.
        let block = if self.fleet_block {
            " (`jobs` of the environment's `fleet:` block)"
        } else {
            ""
        };
        let fewer = format!(
            "this run holds up to {held} connections at once, {} per running target{why}: \
             lower --jobs{block}, {fit} or fewer: the server counts the session of a target \
             that just finished until it is gone",
            match each {
                1 => "one".to_string(),
                n => n.to_string(),
            },
        );
        // A library fleet's caller has no `--jobs`: told `Fleet::jobs` (the one map of flags).
        let fewer = match self.complete_suggestions {
            true => crate::migrate::options::library_names(&fewer, crate::hint::FLEET).into_owned(),
            false => fewer,
        };
        error.help = Some(match error.help.take() {
            Some(help) => format!("{fewer}; or {help}"),
            None => fewer,
        });
    }
}

fn reported(error: &crate::Error, errors: &[ReportedError]) -> ReportedError {
    errors
        .last()
        .cloned()
        .unwrap_or_else(|| ReportedError::of(error))
}

fn target_report(target: &Target, slot: Option<(Ran, u64)>) -> TargetReport {
    let mut report = TargetReport {
        target: target.shown_database(),
        source: target.source.clone(),
        schema: target.schema.clone(),
        entry: target.entry().map(str::to_string),
        environments_own: target.addressed().environments_own,
        state: TargetState::NotStarted,
        exit_code: None,
        applied: Vec::new(),
        rolled_back: Vec::new(),
        unknown: Vec::new(),
        error: None,
        duration_ms: None,
        report: None,
        shared_with: None,
        created_database: None,
    };
    let Some((ran, ms)) = slot else {
        return report;
    };
    report.state = ran.state();
    report.exit_code = Some(ran.exit_code);
    report.duration_ms = Some(ms);
    report.error = ran.error;
    match &ran.report {
        Some(CommandReport::Up(r)) => report.applied = r.applied.clone(),
        Some(CommandReport::Status(r)) => report.applied = r.applied.clone(),
        Some(CommandReport::Down(r)) => report.rolled_back = r.rolled_back.clone(),
        Some(CommandReport::Drift(r)) => report.applied = r.replayed.clone(),
        Some(CommandReport::Verify(_)) | None => {}
    }
    if let Some(r) = &ran.report {
        report.unknown = r.unknown().to_vec();
    }
    report.shared_with = ran.shared_with;
    report.created_database = ran.created_database;
    report.report = ran.report;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_exit_code_is_the_shared_code_or_mixed() {
        assert_eq!(combined_exit_code([]), exit::SUCCESS);
        assert_eq!(combined_exit_code([0, 0, 0]), exit::SUCCESS);
        assert_eq!(combined_exit_code([0, 4, 0, 4]), exit::MIGRATION_FAILED);
        assert_eq!(combined_exit_code([1, 0, 1]), exit::PENDING);
        assert_eq!(combined_exit_code([0, 4, 3]), exit::FLEET_MIXED);
        assert_eq!(combined_exit_code([1, 2]), exit::FLEET_MIXED);
    }

    /// Targets `t_1`..`t_3`, listed by name in `t.txt` on one server.
    fn three_targets() -> Vec<Target> {
        let base = crate::config::Environment::from_url("postgresql://u@h/postgres", "t")
            .expect("an environment");
        ["t_1", "t_2", "t_3"]
            .iter()
            .enumerate()
            .map(|(i, name)| Target::database(&base, name, format!("t.txt:{}", i + 1)).unwrap())
            .collect()
    }

    /// The `--jobs` a target refused with `53300` is told to use counted the targets connected
    /// when the refused one returned: its connection is tried again until a session of the run
    /// ends (`db::connect`), so the target whose end stopped the retries was no longer counted
    /// — under a limit the first target filled, "the run held no connection when refused". The
    /// count is the one the refused target saw: the most of the others connected at once since
    /// it started.
    #[test]
    fn a_refused_target_counts_what_the_run_held_when_refused_not_when_it_returned() {
        let targets = three_targets();
        let mut fleet = Fleet::new(targets.clone(), "db/migrations", CheckOptions::default());
        fleet.jobs = 3;
        let refused = || {
            let mut error = ReportedError::of(&crate::Error::connection("refused"));
            error.sqlstate = Some("53300".to_string());
            error
        };
        let help = |fleet: &Fleet| {
            let mut error = refused();
            fleet.blame_jobs(&mut error, 3, 1, &targets[2]);
            error.help.unwrap_or_default()
        };
        // t_1 and t_2 hold their session; t_3 starts and is refused.
        for t in &targets[..2] {
            lock(&fleet.connected).started(&t.source);
            lock(&fleet.connected).connected(&t.source);
        }
        lock(&fleet.connected).started(&targets[2].source);
        // t_1 ends: what stops the retries of t_3's connection.
        lock(&fleet.connected).ended(&targets[0].source);
        let said = help(&fleet);
        assert!(
            said.contains(
                "e.g. `Fleet::jobs(2)` (what fits in the 2 connections it held when refused)"
            ),
            "{said}"
        );
        // A target that starts after the others ended counts none.
        lock(&fleet.connected).ended(&targets[1].source);
        lock(&fleet.connected).ended(&targets[2].source);
        lock(&fleet.connected).started(&targets[2].source);
        assert!(help(&fleet).contains("the run held no connection when refused"));
    }

    /// A library fleet's help for a target refused with `53300` names the API that lowers
    /// the targets at once, `Fleet::jobs`, never the command line's `--jobs`, which a program
    /// has no way to give (whatever the count it suggests); the command line's fleet (its
    /// migrator's suggestions left to the CLI) keeps the flag.
    #[test]
    fn a_library_fleet_told_to_run_fewer_targets_is_told_the_api_not_the_flag() {
        let targets = three_targets();
        let help = |fleet: &Fleet| {
            let mut error = ReportedError::of(&crate::Error::connection("refused"));
            error.sqlstate = Some("53300".to_string());
            fleet.blame_jobs(&mut error, 3, 1, &targets[2]);
            error.help.unwrap_or_default()
        };
        let mut fleet = Fleet::new(targets.clone(), "db/migrations", CheckOptions::default());
        fleet.jobs = 3;
        for held in [false, true] {
            if held {
                lock(&fleet.connected).started(&targets[0].source);
                lock(&fleet.connected).connected(&targets[0].source);
                lock(&fleet.connected).started(&targets[2].source);
            }
            let said = help(&fleet);
            assert!(!said.contains("--jobs"), "{said}");
            assert!(said.contains("`Fleet::jobs("), "{said}");
        }
        assert!(
            help(&fleet).contains("e.g. `Fleet::jobs(1)`"),
            "{}",
            help(&fleet)
        );
        fleet.complete_suggestions = false;
        assert!(
            help(&fleet).contains("lower --jobs, e.g. --jobs 1"),
            "{}",
            help(&fleet)
        );
    }
}
