//! `Migrator::verify`: proves on a scratch database that every down migration undoes its up,
//! and that every up can be applied again after its down.
//!
//! For each migration in order: snapshot the schema ([`crate::db::snapshot`]), apply its up,
//! snapshot, apply its down, compare with the first snapshot, apply its up again, compare with
//! the second. The first migration whose down leaves the schema different, or whose up gives
//! another schema the second time (or fails the second time), stops the run: the report holds
//! its object-level differences ([`crate::schema::diff`]) and exits 9. Migrations marked
//! `-- confiture:irreversible` are applied up only. The target database itself is never
//! written: the scratch database is created on its server (or on `--scratch-url`'s) and always
//! dropped ([`crate::db::scratch`]). What is read of the target is its database's own settings
//! (`ALTER DATABASE ... SET`, `ALTER ROLE ... IN DATABASE ... SET`), in a read-only
//! transaction, which the scratch database is given before any session opens there
//! (`db::settings`), so that migrations run there as they would on the target.
//!
//! Migrations are applied with [`Migrator::up`] / [`Migrator::down`] on the scratch database,
//! exactly as on a real one (ledger rows, transactions, `no-transaction` files).

// Failures carry the report so far, as `migrate`'s commands do.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Environment;
use crate::db::scratch::Scratch;
use crate::db::settings::DatabaseSettings;
use crate::db::snapshot::{snapshot, SnapshotOptions};
use crate::error::{Error, Result};
use crate::files::{Migration, MigrationSet};
use crate::history::FileErrors;
use crate::migrate::{no_progress, DownOptions, Failed, Outcome, ReportedError, UpOptions};
use crate::migrator::report::CommandReport;
use crate::schema::{diff, Difference, Snapshot};
use crate::{exit, plan, Migrator};

/// The command, as the help of a failure on its scratch database names it.
const VERIFY: &str = crate::hint::VERIFY;

/// Where the scratch database is created. `{:?}` shows a URL as
/// [`RedactedConnection`](crate::config::RedactedConnection): it may hold a password.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScratchServer {
    /// On the server of the environment's database, with its credentials.
    #[default]
    Target,
    /// On the server a URL (or libpq conninfo) names, connecting to the database it names
    /// (else `postgres`, else `template1`) to create it: `--scratch-url`, for a target server
    /// where the role may not create databases.
    Url(String),
}

impl std::fmt::Debug for ScratchServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScratchServer::Target => f.write_str("Target"),
            ScratchServer::Url(url) => f
                .debug_tuple("Url")
                .field(&crate::config::RedactedConnection(url))
                .finish(),
        }
    }
}

impl ScratchServer {
    /// The environment to create scratch databases with: `env`'s settings (tracking table,
    /// timeouts), on the chosen server.
    pub(crate) fn environment(&self, env: &Environment) -> Result<Environment> {
        match self {
            ScratchServer::Target => Ok(env.clone()),
            ScratchServer::Url(url) => {
                // The target's settings, but the scratch server's identity: a connection
                // error there names `--scratch-url`, not the target's environment.
                let scratch = Environment::from_url(url, "--scratch-url")?;
                let mut server = env.clone();
                if scratch.connection.connect_timeout.is_some() {
                    server.migration.connect_timeout = scratch.migration.connect_timeout;
                }
                server.name = scratch.name;
                server.file = scratch.file;
                server.origin = scratch.origin;
                server.connection = scratch.connection;
                Ok(server)
            }
        }
    }
}

/// `error` naming `env`'s database (`user@host:port/db`) unless it names one: the database it
/// was raised on, the target or a scratch database ([`Error::in_database`]). A run decides
/// by where it is: a phase on the target, a step on a scratch database.
pub(crate) fn raised_on(env: &Environment, error: Error) -> Error {
    let error = match &env.migration.tenant_schema {
        Some(schema) => error.in_schema(schema),
        None => error,
    };
    error.in_database(env.connection.to_string())
}

/// What a run had done when a stop cut the work of [`unless_stopped`] short: what its
/// `interrupted` error ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// Nothing of the run's ([`crate::plan::Effect::Runs`]'s words): a scratch database the
    /// thread still creates is dropped with it.
    Nothing,
    /// Every migration replayed on a scratch database, and nothing of the schema directory's
    /// files run: `drift --schema-dir`'s second scratch database.
    Replayed,
    /// The live database compared with its history replayed, and the migrations recorded
    /// without running being replayed again, one by one, to find which makes what is missing
    /// ([`crate::drift`]'s `attribute_missing`).
    Compared,
}

impl Done {
    fn said(self) -> String {
        match self {
            Done::Nothing => crate::plan::Effect::Runs.nothing_done().to_string(),
            Done::Replayed => "the migrations had been replayed on a scratch database; none of \
                               the schema directory's files was run"
                .to_string(),
            Done::Compared => "the live database had been compared with its applied \
                               migrations replayed; which migration recorded without running \
                               makes what is missing was not found"
                .to_string(),
        }
    }
}

/// `work` (a connection of its own: the target's settings read, a scratch database created)
/// on a thread, unless `stop` is set first: then the run's `interrupted` error at once, saying
/// what it was `doing` and what the run had `done`. Without a flag, here.
pub(crate) fn unless_stopped<R: Send + 'static>(
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    (doing, done): (&'static str, Done),
    work: impl FnOnce() -> R + Send + 'static,
) -> Result<R> {
    crate::db::prefetch::unless_stopped(
        stop,
        || {
            Error::new(
                crate::ErrorKind::Interrupted,
                format!("interrupted while {doing}: {}", done.said()),
            )
        },
        work,
    )
}

/// The target's database settings (`ALTER DATABASE ... SET`, `ALTER ROLE ... IN DATABASE ...
/// SET` for its role), which every scratch database of a run is given before a session opens
/// there (`db::settings`).
#[derive(Debug, Clone, Default)]
pub(crate) struct TargetSettings {
    /// `user@host:port/db` of the target, for the warnings.
    pub(crate) of: String,
    pub(crate) values: DatabaseSettings,
}

impl TargetSettings {
    /// A scratch database on `server`, given these settings; each one it could not take is a
    /// warning naming it, once per run (the run goes on without it). A run that can be
    /// stopped (`stop`, [`Migrator::stop_when`]) creates it on a thread of its own, so that a
    /// stop ends the wait at once — a server that does not answer, a slow `CREATE DATABASE` —
    /// and the run says `interrupted` (a fleet's target too); a database the thread creates
    /// after that is dropped as soon as it is (its `Scratch` dropped with the thread's result),
    /// or by the signal handler's [`crate::db::scratch::drop_all`], which waits for it.
    /// `done`: what the run had done before (its `interrupted` error says it).
    pub(crate) fn new_scratch(
        &self,
        server: &Environment,
        warnings: &mut Vec<String>,
        (stop, done): (Option<std::sync::Arc<std::sync::atomic::AtomicBool>>, Done),
    ) -> Result<Scratch> {
        let (settings, server) = (self.clone(), server.clone());
        let mut theirs = warnings.clone();
        let doing = ("creating a scratch database", done);
        let (scratch, theirs) = unless_stopped(stop, doing, move || {
            let scratch = settings.create_scratch(&server, &mut theirs);
            (scratch, theirs)
        })?;
        *warnings = theirs;
        scratch
    }

    fn create_scratch(&self, server: &Environment, warnings: &mut Vec<String>) -> Result<Scratch> {
        let (scratch, refused) = Scratch::create_like(server, self.values.locale.as_ref())?;
        if let (Some(cause), Some(locale)) = (refused, &self.values.locale) {
            let warning = format!(
                "the scratch database does not have the encoding and locale of {} ({}): {cause}; \
                 it has its server's defaults, and migrations may run differently there",
                self.of,
                locale.describe()
            );
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        // Dropped (with the database) if this fails.
        let copied = self.values.copy_to(scratch.environment());
        for refused in
            copied.map_err(|e| raised_on(scratch.environment(), scratch.unreachable(e)))?
        {
            let warning = refused.warning(&self.of);
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
        Ok(scratch)
    }
}

/// Options of `migrate verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Check the migrations from this version on; those before it are applied first, unchecked.
    pub from: Option<u64>,
    /// Where the scratch database is created.
    pub scratch: ScratchServer,
    /// `lock_timeout` for the migration SQL run on the scratch database; overrides
    /// `migration.lock_timeout`, as `up`'s.
    pub lock_timeout_statement: Option<Duration>,
    /// `statement_timeout` for the migration SQL run on the scratch database; overrides
    /// `migration.statement_timeout` and the target's own setting, as `up`'s.
    pub statement_timeout: Option<Duration>,
}

setters!(VerifyOptions {
    from: Option<u64>,
    scratch: ScratchServer,
    lock_timeout_statement: Option<Duration>,
    statement_timeout: Option<Duration>,
});

/// `lock_timeout` and `statement_timeout` for the migration SQL a replay runs (`verify`'s and
/// `drift`'s `--lock-timeout-statement`, `--statement-timeout`), as `up` and `down` take them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SqlTimeouts {
    pub(crate) lock_timeout_statement: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
}

/// What was found for one migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// Its down restores the schema of before its up, and its up repeats after the down.
    Reversible,
    /// Marked `-- confiture:irreversible`: applied up only.
    Irreversible,
    /// Before `--from`: applied without checks.
    Prepared,
    /// Its down leaves the schema different from before its up (exit 9).
    DownDoesNotRestore,
    /// Applied again after its down, its up fails or gives another schema (exit 9).
    UpNotRepeatable,
    /// Its up or down failed on the scratch database (the run's error says why).
    Failed,
    /// The run was stopped ([`Migrator::stop_when`], the CLI's Ctrl-C) while it was being
    /// checked: neither checked nor failed.
    Interrupted,
    /// After the first migration that failed a check: not tried.
    NotChecked,
}

impl CheckResult {
    /// The result in snake case, as the JSON and the table show it.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckResult::Reversible => "reversible",
            CheckResult::Irreversible => "irreversible",
            CheckResult::Prepared => "prepared",
            CheckResult::DownDoesNotRestore => "down_does_not_restore",
            CheckResult::UpNotRepeatable => "up_not_repeatable",
            CheckResult::Failed => "failed",
            CheckResult::Interrupted => "interrupted",
            CheckResult::NotChecked => "not_checked",
        }
    }

    /// Whether this result fails the check (exit 9).
    pub fn is_finding(self) -> bool {
        matches!(
            self,
            CheckResult::DownDoesNotRestore | CheckResult::UpNotRepeatable
        )
    }
}

/// One object-level difference, with the file that caused it and a sentence saying so:
/// `index public.idx_tb_post_slug: left behind by 004_add_comment_views.down.sql`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    #[serde(flatten)]
    /// The difference found.
    pub difference: Difference,
    /// The sentence naming the file that caused it.
    pub message: String,
}

/// `difference` rendered with `suffix` at the end of its first line (a multi-line difference
/// goes on with the lines that differ).
fn with_suffix(difference: &Difference, suffix: &str) -> String {
    let text = difference.to_string();
    match text.split_once('\n') {
        Some((first, rest)) => format!("{first} {suffix}\n{rest}"),
        None => format!("{text} {suffix}"),
    }
}

fn file_name(path: &std::path::Path) -> String {
    crate::display::file_name(path)
}

impl Finding {
    /// `difference` in the words of the comparison that found it: an extra object is
    /// `{object}: {extra}`, a missing one `{object}: {missing}`, a changed one its change
    /// followed by `changed` ([`with_suffix`]).
    pub(crate) fn worded(
        difference: Difference,
        extra: &str,
        missing: &str,
        changed: &str,
    ) -> Finding {
        let message = match &difference {
            Difference::Extra { object } => format!("{object}: {extra}"),
            Difference::Missing { object } => format!("{object}: {missing}"),
            Difference::Changed { .. } => with_suffix(&difference, changed),
        };
        Finding {
            difference,
            message,
        }
    }

    /// `difference` found after running the down file `file` (the file name only in the
    /// sentence).
    fn after_down(difference: Difference, file: &std::path::Path) -> Finding {
        let file = file_name(file);
        Finding::worded(
            difference,
            &format!("left behind by {file}"),
            &format!("missing after {file}"),
            &format!("(after {file})"),
        )
    }

    /// `difference` between the first run of the up file `file` and its run after the down.
    fn after_up_again(difference: Difference, file: &std::path::Path) -> Finding {
        let file = file_name(file);
        Finding::worded(
            difference,
            &format!("extra when {file} runs again after its down"),
            &format!("missing when {file} runs again after its down"),
            &format!("(when {file} runs again after its down)"),
        )
    }
}

/// The check of one migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MigrationCheck {
    /// The migration's version, as in its file name.
    pub version: String,
    /// The migration's name.
    pub name: String,
    /// What was found.
    pub result: CheckResult,
    /// The file whose run left the differences (the down file, or the up file run again).
    #[serde(serialize_with = "crate::display::serialize_option_path")]
    pub file: Option<PathBuf>,
    /// For an up not repeatable: its down file, whose leftovers (a row, a role it does not
    /// remove) make the up fail or differ when it runs again — the file to fix with it.
    #[serde(
        serialize_with = "crate::display::serialize_option_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub down_file: Option<PathBuf>,
    /// The differences its down (or its up run again) left.
    pub findings: Vec<Finding>,
    /// Why the up failed when applied again after the down (`up_not_repeatable`).
    pub error: Option<String>,
    /// Time for the whole check (up, down, up again, and the snapshots).
    pub duration_ms: Option<u64>,
}

impl MigrationCheck {
    fn new(m: &Migration, result: CheckResult) -> MigrationCheck {
        MigrationCheck {
            version: m.version_text.clone(),
            name: m.name.clone(),
            result,
            file: None,
            down_file: None,
            findings: Vec::new(),
            error: None,
            duration_ms: None,
        }
    }

    /// What running `file` left: the `result`, the file, and each difference worded by
    /// `finding` ([`Finding::after_down`], [`Finding::after_up_again`]).
    fn found(
        &mut self,
        result: CheckResult,
        file: &std::path::Path,
        differences: Vec<Difference>,
        finding: fn(Difference, &std::path::Path) -> Finding,
    ) {
        self.result = result;
        self.file = Some(file.to_path_buf());
        self.findings = differences.into_iter().map(|d| finding(d, file)).collect();
    }

    /// `003_add_bio`.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

/// What `migrate verify` reports (`--format json` prints it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Whether every checked migration is reversible and repeatable (irreversible ones aside).
    pub passed: bool,
    /// The scratch database used (dropped at the end).
    pub scratch_database: Option<String>,
    /// Every migration of the directory, in order.
    pub migrations: Vec<MigrationCheck>,
    /// Counts by result.
    pub summary: VerifySummary,
    /// What failed (one entry at most today; a list so that the JSON can grow).
    pub errors: Vec<ReportedError>,
    /// A setting of the target's database the scratch database could not be given, the
    /// target's settings not read (`--scratch-url` with a target out of reach), a scratch
    /// database that could not be dropped.
    pub warnings: Vec<String>,
    /// What the migrations replayed left on the scratch database's server, which dropping
    /// the scratch database does not remove (roles, tablespaces, databases are the server's),
    /// and the run could not put back: one sentence each, naming it and what to do. Not empty
    /// fails the run (exit 9).
    pub left_on_server: Vec<String>,
    /// Wall-clock time of the whole command.
    pub total_duration_ms: u64,
}

/// Counts of [`VerifyReport::migrations`] by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifySummary {
    /// Migrations found reversible.
    pub reversible: usize,
    /// Migrations marked irreversible (applied up only).
    pub irreversible: usize,
    /// Migrations before `--from` (applied without checks).
    pub prepared: usize,
    /// Migrations whose down does not restore or whose up does not repeat.
    pub failed_checks: usize,
    /// Migrations not tried after a failed check.
    pub not_checked: usize,
    /// The migration being checked when the run was stopped (0 or 1).
    pub interrupted: usize,
}

impl VerifyReport {
    /// 0 when every check passed, [`exit::SCHEMA_CHECK_FAILED`] when one did not.
    pub fn exit_code(&self) -> u8 {
        if self.passed {
            exit::SUCCESS
        } else {
            exit::SCHEMA_CHECK_FAILED
        }
    }

    /// The migration that failed its check, if any.
    pub fn first_finding(&self) -> Option<&MigrationCheck> {
        self.migrations.iter().find(|m| m.result.is_finding())
    }

    fn summarise(&mut self) {
        let count = |r: CheckResult| self.migrations.iter().filter(|m| m.result == r).count();
        self.summary = VerifySummary {
            reversible: count(CheckResult::Reversible),
            irreversible: count(CheckResult::Irreversible),
            prepared: count(CheckResult::Prepared),
            failed_checks: self
                .migrations
                .iter()
                .filter(|m| m.result.is_finding())
                .count(),
            not_checked: count(CheckResult::NotChecked),
            interrupted: count(CheckResult::Interrupted),
        };
        self.passed = self.errors.is_empty() && self.summary.failed_checks == 0;
    }
}

/// Progress of `verify` and `drift`, for a renderer. Owned, so that a command run off a tokio
/// runtime's thread can hand its events back to the caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScratchProgress {
    /// A scratch database was created (it is dropped at the end).
    Created {
        /// Its name on the server.
        database: String,
    },
    /// `verify` starts checking a migration.
    Checking {
        /// The migration's version, as in its file name.
        version: String,
        /// The migration's name.
        name: String,
    },
    /// `verify` checked a migration.
    Checked(MigrationCheck),
    /// A step of `drift`: `replaying 5 applied migrations`, `reading the live schema`.
    Step(String),
}

/// The most connections `verify` and `drift` hold at once, per target: the two of a
/// [`Replay`], on its scratch database (the snapshots' session, idle while the replay's own
/// runs a migration). Nothing else is open meanwhile: the target's settings are read on a
/// session closed before the scratch database is created (`verify`), the live database's
/// session is closed once read (`drift`, unless it is a connection handed over with
/// [`Migrator::with_client`]), and the sessions that create a scratch database, copy its
/// settings, run a schema directory and drop it are each alone. A fleet's help for a target
/// refused for too many connections counts it.
pub(crate) const CONNECTIONS_AT_ONCE: usize = 2;

/// Applied migrations and snapshots on one scratch database.
pub(crate) struct Replay {
    pub(crate) migrator: Migrator,
    client: postgres::Client,
    options: SnapshotOptions,
    /// The database the run is about (`user@host:port/db`), which a replay never writes.
    target: String,
    /// That database's name: the scratch database has its settings, so a help that changes
    /// them names it.
    target_database: String,
    pub(crate) timeouts: SqlTimeouts,
}

impl Replay {
    /// A replay on `scratch` of `of`'s migrations, for `command` (`migrate verify`, `migrate
    /// drift`: what its errors suggest running again).
    pub(crate) fn new(
        scratch: &Scratch,
        of: &Migrator,
        command: &'static str,
        ledger_schema: bool,
        timeouts: SqlTimeouts,
    ) -> Result<Replay> {
        Replay::start(scratch, of, command, ledger_schema, timeouts)
            .map_err(|e| raised_on(scratch.environment(), scratch.unreachable(e)))
    }

    fn start(
        scratch: &Scratch,
        of: &Migrator,
        command: &'static str,
        ledger_schema: bool,
        timeouts: SqlTimeouts,
    ) -> Result<Replay> {
        let env = scratch.environment().clone();
        // What the migrations may create on the scratch server: a role one of them names that
        // appears there during the run is the run's, dropped with the scratch database.
        if let Ok(checked) = of.read_checked() {
            scratch.replays(
                checked
                    .set
                    .migrations
                    .iter()
                    .flat_map(|m| [m.up.text.clone(), m.down.text.clone()]),
            );
        }
        let mut client = crate::db::connect(&env)?;
        // Idle while `migrator`'s session runs each migration.
        crate::db::scratch::own_session(&mut client, &env)?;
        if let Some(schema) = &env.migration.tenant_schema {
            // A tenant's schema is there before its first migration, as on its database:
            // otherwise the schema its ledger creates would read as left behind by a down.
            let sql = format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "\"\"")
            );
            crate::db::scratch::execute(&mut client, &sql, |_| {
                Error::new(
                    crate::ErrorKind::MigrationFailed,
                    format!("cannot create the tenant schema {schema} on the scratch database"),
                )
            })?;
        }
        if let Some(sql) = ledger_schema
            .then(|| env.migration.tracking_table.create_schema_sql())
            .flatten()
        {
            // The ledger's own schema (`ops` of `ops.tb_confiture`) is the tool's, as on the
            // target: otherwise the first migration's up would seem to create it, and its down
            // to leave it behind.
            crate::db::scratch::execute(&mut client, &sql, |_| {
                Error::new(
                    crate::ErrorKind::MigrationFailed,
                    format!(
                        "cannot create the schema of the tracking table {} on the scratch database",
                        env.migration.tracking_table
                    ),
                )
            })?;
        }
        let options = SnapshotOptions {
            ledger: Some(env.migration.tracking_table.clone()),
        };
        // The same migrations (a directory, or the set embedded in the binary), on the scratch.
        let mut migrator = of.detached();
        migrator.env = env;
        migrator.on_scratch = Some(command);
        // Its errors are the run's, completed once by the run (`close_run`).
        migrator.suggest = crate::hint::Invocation::default();
        Ok(Replay {
            migrator,
            client,
            options,
            target: of.env.connection.to_string(),
            target_database: of.env.connection.dbname.clone(),
            timeouts,
        })
    }

    /// The role the replayed migrations run as, and own what they make as.
    pub(crate) fn role(&mut self) -> Result<String> {
        crate::db::snapshot::current_role(&mut self.client)
            .map_err(|e| raised_on(&self.migrator.env, e))
    }

    pub(crate) fn snapshot(&mut self) -> Result<Snapshot> {
        snapshot(&mut self.client, &self.options).map_err(|e| raised_on(&self.migrator.env, e))
    }

    /// Applies pending migrations through `target` (all without one); the up's error as is.
    pub(crate) fn up(
        &mut self,
        steps: Option<u32>,
        target: Option<u64>,
    ) -> std::result::Result<Vec<String>, Failed<crate::migrate::UpReport>> {
        let options = UpOptions {
            steps,
            target: target.map(crate::history::Version::from),
            lock_timeout_statement: self.timeouts.lock_timeout_statement,
            statement_timeout: self.timeouts.statement_timeout,
            ..UpOptions::default()
        };
        self.migrator
            .up(&options, &mut no_progress)
            .map(|r| r.applied)
            .map_err(|f| self.on_scratch(f))
    }

    fn down_one(&mut self) -> std::result::Result<(), Failed<crate::migrate::DownReport>> {
        let options = DownOptions {
            lock_timeout_statement: self.timeouts.lock_timeout_statement,
            statement_timeout: self.timeouts.statement_timeout,
            ..DownOptions::default()
        };
        self.migrator
            .down(&options, &mut no_progress)
            .map(drop)
            .map_err(|f| self.on_scratch(f))
    }

    /// The role, tablespace or database (`role "app"`) that `error` — a migration's failure
    /// here with "already exists" (`42710`, `42P04`) — could not create because it was on the
    /// scratch database's server before the run and the failing file creates one and names
    /// it: roles are the server's, and the target's `up` made it there.
    fn already_on_server(&self, error: &Error) -> Option<String> {
        let crate::error::Reason::Migration(m) = error.reason() else {
            return None;
        };
        if !matches!(error.sqlstate(), Some("42710" | "42P04")) {
            return None;
        }
        let checked = self.migrator.read_checked().ok()?;
        let migration = checked
            .set
            .migrations
            .iter()
            .find(|x| x.version_text == m.version)?;
        let text = &migration.file(m.direction).text;
        let named = crate::db::scratch::server_objects_created(&self.migrator.env, text);
        named
            .first()
            .map(|(kind, name)| format!("{kind} {}", crate::db::scratch::quoted(name)))
    }

    /// A migration that failed here failed on a scratch copy: the error names that database,
    /// the help says so, that the target was not written, and what to do — the failure's own
    /// help, which the engine wrote for a scratch database of this command
    /// ([`crate::db::apply::ApplySettings::scratch`]: the file to fix, the command to run
    /// again). A run stopped from outside, or whose connection to the scratch database was
    /// lost while a migration ran, has nothing to fix: whatever the help of such a failure on
    /// the target says (`migrate up` again, `migrate status`), here it is this command again.
    /// A scratch database reached through a pooler in transaction pooling mode (the target's,
    /// serving every database) is helped with `--scratch-url`, never with fixing the target's
    /// connection, which the command only reads. Decided by the error's kind and reason, each
    /// help written once.
    fn on_scratch<R: CommandReport>(&mut self, mut failed: Failed<R>) -> Failed<R> {
        use crate::ErrorKind;
        failed.error = raised_on(&self.migrator.env, failed.error);
        // What a scratch database records is dropped with it: no migration's fate there is
        // for anyone to look up (`migrate status` would read the target, never written).
        if let crate::error::Reason::Migration(m) = failed.error.reason_mut() {
            m.unknown.clear();
            m.durability_unknown.clear();
        }
        if let Some(reported) = failed.report.errors_mut().last_mut() {
            reported.database = failed.error.database().map(str::to_string);
            reported.unknown.clear();
            reported.durability_unknown.clear();
        }
        // As given: its flags (`--from`, `--scratch-url`, timeouts) too.
        let again = || format!("run {}", crate::hint::AGAIN);
        let lost_mid_migration =
            matches!(failed.error.reason(), crate::error::Reason::Migration(_));
        // The unqualified tracking table had no schema to be created in: the search_path the
        // scratch database has is the target's, which is where to change it.
        let no_schema_for_ledger = failed.error.reason() == &crate::error::Reason::NoLedgerSchema;
        let then = match failed.error.kind {
            ErrorKind::MigrationFailed => match self.already_on_server(&failed.error) {
                // The file is right: what it creates is the server's, and there already.
                Some(object) => Some(format!(
                    "{object} is already on the scratch database's server (it was before this \
                     run: roles, tablespaces and databases are the server's, not a database's), \
                     so the migration cannot create it there; run {} with `--scratch-url` \
                     naming another server",
                    crate::hint::command(self.migrator.on_scratch.unwrap_or(VERIFY))
                )),
                None => Some(
                    failed
                        .error
                        .help
                        .take()
                        .unwrap_or_else(|| format!("fix the migration, then {}", again())),
                ),
            },
            ErrorKind::Interrupted => Some(again()),
            ErrorKind::Connection if lost_mid_migration => Some(again()),
            ErrorKind::Invalid if no_schema_for_ledger => Some(format!(
                "it has the settings of database {}: {}",
                crate::config::quoted(&self.target_database),
                crate::db::ledger::no_schema_help_naming(
                    &mut self.client,
                    &self.migrator.env.migration.tracking_table,
                    Some(&self.target_database),
                    Some(&self.migrator.env),
                )
            )),
            // Reached by the target's host and port, the scratch database is behind the
            // target's pooler: the target is not at fault (it is only read).
            _ if failed.error.reason() == &crate::error::Reason::TransactionPooling => {
                Some(format!(
                    "give {} with a direct connection to the server (not through the pooler), \
                     or to a local PostgreSQL of the same major version, and {}",
                    "`--scratch-url URL`",
                    again()
                ))
            }
            _ => None,
        };
        if let Some(then) = then {
            let what = match failed.error.kind {
                ErrorKind::Interrupted => "this was interrupted",
                _ => "this failed",
            };
            failed.error.help = Some(format!(
                "{what} on the scratch database {}, built from the migration files, not on {}: nothing was written there; {then}",
                crate::config::quoted(&self.migrator.env.connection.dbname), self.target
            ));
            if let Some(reported) = failed.report.errors_mut().last_mut() {
                reported.help.clone_from(&failed.error.help);
            }
        }
        failed
    }
}

/// The files a replay runs (`verify`: every up and every down it applies; `drift`: the ups
/// of the applied migrations, and a schema directory's files), scanned for statements whose
/// effect is the server's ([`crate::files::rules::server_wide`]) before anything is replayed
/// on `scratch`: on the target's own server (`--scratch-url` not given, or naming it —
/// [`Scratch::on_server_of`]), a run that would change the server outside its scratch database
/// is refused (exit 5), naming every such statement by file and line. What the replayed SQL
/// does to the server is then what the run can put back (a role it creates, dropped at the
/// end: [`crate::db::scratch`]); a statement it could not put back — `ALTER SYSTEM`, a
/// replication slot, `COPY ... PROGRAM`, a role, membership, tablespace or database that was
/// on the server before the run — never runs there. Conservative: a match inside a `DO`
/// block, a function's body or a string in one counts, whether or not it runs.
pub(crate) fn refuse_server_wide<'f>(
    scratch: &Scratch,
    target: &Environment,
    files: impl IntoIterator<Item = (&'f std::path::Path, &'f str)>,
    command: &str,
) -> Result<()> {
    use crate::files::rules::Effect;
    let existed = |kind: &str, names: &[String]| {
        names.is_empty()
            || names.iter().any(|n| {
                (kind == "role" && (n == "current_user" || n == "all")) || scratch.existed(kind, n)
            })
    };
    let mut found = Vec::new();
    // The roles the files create: a leftover of a killed run holds such roles.
    let mut created: Vec<String> = Vec::new();
    for (path, text) in files {
        let text = &text[crate::text::bom_len(text)..];
        for (line, in_body, effect) in crate::files::rules::server_wide(text) {
            if let Effect::Role {
                statement: "CREATE ROLE",
                roles,
            } = &effect
            {
                created.extend(roles.iter().cloned());
            }
            let why = match &effect {
                e if e.always() => "",
                Effect::Role { roles, .. } if existed("role", roles) => {
                    if roles.is_empty() {
                        " (a role whose name is computed at run time)"
                    } else {
                        " (a role that is on the server already)"
                    }
                }
                Effect::Membership {
                    granted, grantees, ..
                } if existed("role", granted) && existed("role", grantees) => {
                    " (between roles that are on the server already)"
                }
                Effect::Tablespace { names, .. } if existed("tablespace", names) => {
                    " (a tablespace that is on the server already)"
                }
                Effect::Database { names, .. } if existed("database", names) => {
                    " (a database that is on the server already)"
                }
                _ => continue,
            };
            let body = if in_body {
                ", inside a DO block, function body or string (counted whether or not it runs)"
            } else {
                ""
            };
            found.push(format!(
                "`{}:{line}`: {}{why}{body}",
                crate::display::escape(crate::display::path_text(path).as_ref()),
                effect.describe()
            ));
        }
    }
    if found.is_empty() || !scratch.on_server_of(target) {
        return Ok(());
    }
    let mut error = Error::invalid(format!(
        "{} would replay, on a scratch database of the target's own server ({}), {} whose \
         effect is the whole server's, not the scratch database's: dropping the scratch \
         database would not undo it; nothing was replayed",
        crate::hint::command(command),
        scratch.server_connection(),
        match found.len() {
            1 => "a statement".to_string(),
            n => format!("{n} statements"),
        },
    ))
    .with_help(format!(
        "run {} with `--scratch-url URL` naming a throwaway server (a local PostgreSQL of the \
         same major version will do), where these statements reach nothing that matters",
        crate::hint::command(command)
    ));
    for f in found {
        error = error.with_detail(f);
    }
    // What a run killed with SIGKILL left here (its scratch database, and the roles its
    // replay created, which that database's grants keep): often why a role is "there
    // already".
    for (database, roles) in scratch.leftovers() {
        let mut cleanup = vec![crate::db::scratch::drop_statement(&database)];
        cleanup.extend(
            roles
                .iter()
                .filter(|r| created.contains(r))
                .map(|r| format!("DROP ROLE {};", crate::db::scratch::quoted(r))),
        );
        let holding = match roles.len() {
            0 => String::new(),
            _ => format!(", whose objects depend on role {}", roles.join(", ")),
        };
        error = error.with_detail(format!(
            "the scratch database \"{database}\" is on that server with no session, left by a \
             `verify` or `drift` killed with SIGKILL{holding}: once no run uses it, `{}`",
            cleanup.join(" ")
        ));
    }
    Err(raised_on(target, error))
}

/// How a run failed: the error, and its report entry when the failing command made one.
pub(crate) struct RunError {
    pub(crate) error: Error,
    pub(crate) reported: Option<ReportedError>,
}

impl From<Error> for RunError {
    fn from(error: Error) -> RunError {
        RunError {
            error,
            reported: None,
        }
    }
}

impl<R: CommandReport> From<Failed<R>> for RunError {
    fn from(failed: Failed<R>) -> RunError {
        RunError {
            reported: failed.report.errors().last().cloned(),
            error: failed.error,
        }
    }
}

/// The parts of a report [`close_run`] fills in.
pub(crate) struct RunParts<'a> {
    errors: &'a mut Vec<ReportedError>,
    warnings: &'a mut Vec<String>,
    left_on_server: &'a mut Vec<String>,
    passed: &'a mut bool,
    total_duration_ms: &'a mut u64,
}

/// The report of a run on scratch databases (`verify`, `drift`): its [`RunParts`], which
/// [`close_run`] fills in.
pub(crate) trait ScratchRunReport {
    fn run_parts(&mut self) -> RunParts<'_>;
}

/// The one mapping of a scratch run's report to its [`RunParts`]: every such report names
/// those fields alike.
macro_rules! scratch_run_report {
    ($($report:ty),*) => {$(
        impl ScratchRunReport for $report {
            fn run_parts(&mut self) -> RunParts<'_> {
                RunParts {
                    errors: &mut self.errors,
                    warnings: &mut self.warnings,
                    left_on_server: &mut self.left_on_server,
                    passed: &mut self.passed,
                    total_duration_ms: &mut self.total_duration_ms,
                }
            }
        }
    )*};
}
scratch_run_report!(VerifyReport, crate::drift::DriftReport);

/// Finishes a report: the scratch databases dropped, and with them what the migrations
/// replayed left on their server put back ([`Scratch::drop_now`]): what could not be fails
/// the run, listed in `left_on_server` (and in the error's details) — unless the run was
/// `stopped` and the process drops them after its report ([`Scratch::close`]). The run's
/// error in `errors`.
pub(crate) fn close_run<R: ScratchRunReport>(
    (suggest, options): (&crate::hint::Invocation, &str),
    mut report: R,
    result: std::result::Result<(), RunError>,
    (scratches, stopped): (Vec<Scratch>, bool),
    start: Instant,
) -> Outcome<R> {
    let RunParts {
        errors,
        warnings,
        left_on_server,
        passed,
        total_duration_ms: total,
    } = report.run_parts();
    // A scratch database that could not be dropped, with the statement that drops it: a
    // warning, and a detail of the run's error when it failed.
    let mut not_dropped = Vec::new();
    for scratch in scratches {
        match scratch.close(stopped) {
            Ok(left) => left_on_server.extend(left),
            Err(e) => not_dropped.push(match &e.help {
                Some(help) => format!("{}; {help}", e.message_with_cause()),
                None => e.message_with_cause(),
            }),
        }
    }
    warnings.extend(not_dropped.iter().cloned());
    *passed &= left_on_server.is_empty();
    *total = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(()) => Ok(report),
        Err(RunError {
            mut error,
            reported,
        }) => {
            error.details.extend(not_dropped.iter().cloned());
            if !left_on_server.is_empty() {
                // Dropping the scratch database did not take these with it.
                error.details.extend(left_on_server.iter().cloned());
                let left = "the migrations replayed also left server-wide objects on the \
                            scratch database's server (listed above): remove them before the \
                            migrations run on that server for real";
                error.help = Some(match error.help.take() {
                    Some(help) => format!("{help}; {left}"),
                    None => left.to_string(),
                });
            }
            suggest.complete_error(&mut error);
            // A library session (its suggestions completed for it) names the fields of its
            // `options` type where the texts name the command line's flags; the CLI's stay.
            let library = !suggest.is_empty();
            if library {
                crate::migrate::options::name_fields(&mut error, options);
            }
            let reported = match reported {
                Some(mut reported) => {
                    reported.details.extend(not_dropped);
                    suggest.complete_reported(&mut reported);
                    if library {
                        crate::migrate::options::name_reported_fields(&mut reported, options);
                    }
                    reported
                }
                None => ReportedError::of(&error),
            };
            errors.push(reported);
            Err(Failed { error, report })
        }
    }
}

impl Migrator {
    /// `migrate verify`: checks every migration's down and the repeatability of its up on a
    /// scratch database. `Ok` with [`VerifyReport::passed`] false (exit 9) when a check
    /// fails; `Err` when the run could not be made (broken files, no server, a migration whose
    /// SQL fails), with the report so far.
    ///
    /// ```no_run
    /// use confiture::verify::{VerifyOptions, ScratchProgress};
    ///
    /// fn check(migrator: &mut confiture::Migrator) -> confiture::Result<bool> {
    ///     let report = migrator.verify(&VerifyOptions::default(), &mut |_: ScratchProgress| {})?;
    ///     for finding in report.first_finding().iter().flat_map(|m| &m.findings) {
    ///         eprintln!("{}", finding.message);
    ///     }
    ///     Ok(report.passed)
    /// }
    /// ```
    pub fn verify(
        &mut self,
        options: &VerifyOptions,
        progress: &mut dyn FnMut(ScratchProgress),
    ) -> Outcome<VerifyReport> {
        // Everything that reaches the server, the scratch databases' drop included, runs where
        // the blocking driver may block.
        self.off_runtime(progress, |m, progress| {
            let start = Instant::now();
            let mut report = VerifyReport::default();
            let mut scratches = Vec::new();
            let result = m.verify_run(options, progress, &mut report, &mut scratches);
            report.summarise();
            report.passed &= result.is_ok();
            close_run(
                (&m.suggest, "VerifyOptions"),
                report,
                result,
                (scratches, m.stop_is_set()),
                start,
            )
        })
    }

    /// What `verify` refuses before connecting, decided by the files and the options alone
    /// (the same answer for every database): broken files, a `--from` that names nothing.
    pub(crate) fn verify_request(&self, options: &VerifyOptions) -> Result<MigrationSet> {
        options.check_durations()?;
        let checked = self.read_checked()?;
        let set = checked.set;
        let errors = FileErrors::new(&set, &checked.diagnostics);
        // It cannot stop before a version: no `--target` to suggest.
        plan::check_up_files(&set, &errors, None, None, None, plan::Effect::Runs)?;
        // Every migration is replayed (those below `--from` too, unchecked).
        plan::check_replayable(&set, None, VERIFY)?;
        if let Some(v) = options.from {
            // Files of such a version that cannot be used were refused above, as files.
            if !set
                .versions_on_disk()
                .iter()
                .any(|&(version, _)| version >= v)
            {
                return Err(Error::usage(format!("--from {v}: no migration has version {v} or above"))
                    .with_help("give the version of a migration in the directory (`migrate status` lists them)"));
            }
        }
        Ok(set)
    }

    /// The target's database settings, read on a session of their own, read only (none when
    /// the database does not exist: the target need not). With the scratch database on the
    /// target's server, an error reaching the target is the run's (creating the scratch
    /// database would meet it too); with `--scratch-url`, a warning, and no settings.
    fn verify_settings(
        &self,
        scratch: &ScratchServer,
        warnings: &mut Vec<String>,
    ) -> Result<TargetSettings> {
        let of = self.env.connection.to_string();
        let env = self.env.clone();
        let read = unless_stopped(
            self.stop.clone(),
            ("reading the target's settings", Done::Nothing),
            move || crate::db::settings::read(&env),
        )?;
        let values = match (read, scratch) {
            (Ok(values), _) => values.unwrap_or_default(),
            (Err(e), ScratchServer::Target) => return Err(e),
            (Err(e), ScratchServer::Url(_)) => {
                warnings.push(format!(
                    "the settings of {of} were not read ({}): the scratch database has its \
                     server's defaults, not that database's `ALTER DATABASE ... SET`",
                    e.message_with_cause()
                ));
                DatabaseSettings::default()
            }
        };
        Ok(TargetSettings { of, values })
    }

    /// Whether `error` ended a replay because the run was stopped from outside: the typed
    /// interruption (the stop flag cancelled the statement), or the flag itself — the CLI
    /// drops the scratch database under the run as it stops it, and the drop's error may
    /// come first. Such an error is never a finding about a migration.
    pub(crate) fn stopped_by(&self, error: &Error) -> bool {
        error.kind == crate::ErrorKind::Interrupted || self.stop_is_set()
    }

    /// Whether the run was stopped from outside ([`Migrator::stop_when`]'s flag is set).
    pub(crate) fn stop_is_set(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn verify_run(
        &mut self,
        options: &VerifyOptions,
        progress: &mut dyn FnMut(ScratchProgress),
        report: &mut VerifyReport,
        scratches: &mut Vec<Scratch>,
    ) -> std::result::Result<(), RunError> {
        let set = self.verify_request(options)?;
        let from = options.from.unwrap_or(0);
        let server = options.scratch.environment(&self.env)?;
        report.migrations = set
            .migrations
            .iter()
            .map(|m| MigrationCheck::new(m, CheckResult::NotChecked))
            .collect();
        if set.migrations.is_empty() {
            // Nothing to prove: no scratch database for it.
            return Ok(());
        }

        self.announce_connect()?;
        let settings = self
            .verify_settings(&options.scratch, &mut report.warnings)
            .map_err(|e| raised_on(&self.env, e))?;
        let stop = (self.stop.clone(), Done::Nothing);
        let scratch = settings.new_scratch(&server, &mut report.warnings, stop)?;
        report.scratch_database = Some(scratch.name().to_string());
        progress(ScratchProgress::Created {
            database: scratch.name().to_string(),
        });
        let timeouts = SqlTimeouts {
            lock_timeout_statement: options.lock_timeout_statement,
            statement_timeout: options.statement_timeout,
        };
        // Every up, and every down it runs (not those prepared below `--from`, nor an
        // irreversible one's): refused here when one reaches the target's own server.
        let files = set
            .migrations
            .iter()
            .flat_map(|m| {
                let down = (!m.down.irreversible && m.version >= from).then_some(&m.down);
                std::iter::once(&m.up).chain(down)
            })
            .map(|f| (f.path.as_path(), f.text.as_str()));
        let replay = refuse_server_wide(&scratch, &self.env, files, VERIFY)
            .and_then(|()| Replay::new(&scratch, self, VERIFY, true, timeouts));
        scratches.push(scratch);
        let mut replay = replay?;

        let prepared = set.migrations.iter().filter(|m| m.version < from).count();
        if prepared > 0 {
            replay.up(None, Some(from - 1))?;
            for check in &mut report.migrations[..prepared] {
                check.result = CheckResult::Prepared;
            }
        }
        for (i, m) in set.migrations.iter().enumerate().skip(prepared) {
            progress(ScratchProgress::Checking {
                version: m.version_text.clone(),
                name: m.name.clone(),
            });
            let started = Instant::now();
            let outcome = check_one(
                &mut replay,
                m,
                &mut report.migrations[i],
                &mut report.warnings,
            );
            report.migrations[i].duration_ms =
                Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
            if let Err(e) = outcome {
                // Stopped from outside, whichever of its steps: the check was cut short,
                // nothing failed.
                report.migrations[i].result = if self.stopped_by(&e.error) {
                    CheckResult::Interrupted
                } else {
                    CheckResult::Failed
                };
                progress(ScratchProgress::Checked(report.migrations[i].clone()));
                return Err(e);
            }
            progress(ScratchProgress::Checked(report.migrations[i].clone()));
            if report.migrations[i].result.is_finding() {
                break;
            }
        }
        Ok(())
    }
}

/// Up, down, up again, with a snapshot around each; fills in `check`. A down that leaves
/// the columns of a table in another order than before its up is still reversible (a down
/// can only add a column at the end): a warning each, in `warnings`.
fn check_one(
    replay: &mut Replay,
    m: &Migration,
    check: &mut MigrationCheck,
    warnings: &mut Vec<String>,
) -> std::result::Result<(), RunError> {
    let before = replay.snapshot()?;
    let applied = replay.up(Some(1), None)?;
    if applied != [m.version_text.clone()] {
        let error = Error::new(
            crate::ErrorKind::MigrationFailed,
            format!(
                "verify expected to apply {} on the scratch database, and applied {:?}",
                m.id(),
                applied
            ),
        );
        return Err(raised_on(&replay.migrator.env, error).into());
    }
    let after_up = replay.snapshot()?;
    if m.down.irreversible {
        check.result = CheckResult::Irreversible;
        return Ok(());
    }
    replay.down_one()?;
    let after_down = replay.snapshot()?;
    let left = diff(&before, &after_down);
    if !left.is_empty() {
        check.found(
            CheckResult::DownDoesNotRestore,
            &m.down.path,
            left,
            Finding::after_down,
        );
        return Ok(());
    }
    for order in crate::schema::column_order(&before, &after_down) {
        warnings.push(format!(
            "{}: {}",
            crate::display::path_text(&m.down.path),
            order.describe("before", "after its down")
        ));
    }
    match replay.up(Some(1), None) {
        Ok(_) => {}
        // Only its SQL refused is its up failing again: a stop (`interrupted`), a session
        // lost, a cancel, another session's lock are the run's error, with their exit code,
        // as they are at its first up and its down.
        Err(failed)
            if replay.migrator.stopped_by(&failed.error)
                || !crate::db::apply::refused_for_its_sql(&failed.error) =>
        {
            return Err(failed.into())
        }
        Err(failed) => {
            check.result = CheckResult::UpNotRepeatable;
            check.file = Some(m.up.path.clone());
            check.down_file = Some(m.down.path.clone());
            check.error = Some(failed.error.message_with_cause());
            return Ok(());
        }
    }
    let again = diff(&after_up, &replay.snapshot()?);
    if !again.is_empty() {
        check.found(
            CheckResult::UpNotRepeatable,
            &m.up.path,
            again,
            Finding::after_up_again,
        );
        check.down_file = Some(m.down.path.clone());
        return Ok(());
    }
    check.result = CheckResult::Reversible;
    Ok(())
}
