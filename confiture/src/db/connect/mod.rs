//! Opening a connection to the environment's database: TLS by sslmode, `application_name`,
//! `client_connection_check_interval` and, for the tool's own sessions, `statement_timeout=0`
//! in the startup packet, a connect timeout that covers the
//! whole exchange, and one clear message per way of failing (exit 3), without the password.
//! A refusal for too many connections that our own sessions, just closed, may explain is tried
//! again (`lingering`).

mod cancel;
mod explain;
mod fatal;
mod lingering;
mod pooler;
mod probe;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{ConnectionSpec, Environment, SslMode, TargetSessionAttrs, WaitingForServer};
use crate::error::{Error, Result};
use crate::migrator::blocking_here;
use explain::explain;
pub(crate) use explain::{
    close_database, close_database_first, createdb, for_create_through_pooler,
    for_existing_database, missing_database, refuse_unexpanded_database_name,
};
pub(crate) use pooler::{
    direct_identity, identity_columns, options_columns, read_direct_identity,
    refuse_dropped_options, refuse_transaction_pooling, unmatched_options, SentSetting,
    SERVER_START, SESSION_IDENTITY,
};

/// Set in the startup packet so that the server notices a killed client within a second and
/// stops its query (PostgreSQL 14+). Sent as `options`, which costs no extra round trip.
const CHECK_INTERVAL_OPTION: &str = "-c client_connection_check_interval=1000";

/// Set in the startup packet, as the driver sets `client_encoding` there: a backslash in a
/// `'...'` string is the character itself, as lint, the dry run and the tool's own SQL read it,
/// whatever the database or the role set (`ALTER DATABASE|ROLE ... SET
/// standard_conforming_strings = off`). The startup packet is what `RESET ALL` returns to, so
/// the engine's reset before each migration keeps it. Before the connection's own `options`:
/// one that turns it off wins, and `writable::check` refuses that session.
pub(crate) const STANDARD_STRINGS_OPTION: &str = "-c standard_conforming_strings=on";

/// Set in the startup packet of the tool's own sessions, those that run no migration
/// ([`Need::own_settings`]): a `statement_timeout` of the database, the role or the
/// connection's `options` (the user's bound for migration SQL) never cancels their catalog
/// reads, ledger reads, `CREATE DATABASE` or `DROP DATABASE` — not even their first
/// statement, which a `SET` would have to be (a tiny timeout, 1 ms, could cancel that `SET`
/// itself on a loaded server). After the connection's own `options`, so that it wins there.
const OWN_SESSION_OPTION: &str = "-c statement_timeout=0";

/// Silence on the connection before the first keepalive probe.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(15);
/// Between unanswered probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered probes before the connection is given up: a dead peer is noticed within
/// `KEEPALIVE_IDLE + KEEPALIVE_RETRIES * KEEPALIVE_INTERVAL` (30 s) of silence.
pub const KEEPALIVE_RETRIES: u32 = 3;
/// How long data we sent may stay unacknowledged before the connection is given up.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to `env`'s database, for the tool's own statements: the session starts with
/// `statement_timeout` 0 (in the startup packet, over the database's, role's and connection's
/// setting), the bound of migration SQL only.
///
/// `migration.connect_timeout` bounds everything up to a usable session — name lookup, TCP,
/// TLS and authentication — as libpq's `connect_timeout` does (the driver alone bounds only
/// the TCP connect). A server older than 14, or a pooler that rejects `options`, is retried
/// once without `client_connection_check_interval`.
pub fn connect(env: &Environment) -> Result<postgres::Client> {
    connect_for(env, env.connection.target_session_attrs)
}

/// Connects to the first of `env`'s hosts whose session is what `attrs` asks for (libpq's
/// `target_session_attrs`, tried in order; `prefer-standby` falls back to the first host that
/// answered). One host asked for `any` is [`connect`] as ever. An invalid setting (a client
/// key that cannot be used) ends the search at once: it would fail on every host.
pub fn connect_for(env: &Environment, attrs: TargetSessionAttrs) -> Result<postgres::Client> {
    let mut env = env.clone();
    env.connection.target_session_attrs = attrs;
    blocking_here(|| open_session(&env, Need::Read).map(|session| session.client))
}

/// What a connection will do, which decides the host of `env`'s list it must reach: **the**
/// rule, which callers ask for by need instead of choosing hosts or `target_session_attrs`
/// themselves. A standby's answer is never a fact about the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Reading the target: the host `target_session_attrs` asks for (libpq's rule).
    Read,
    /// A writing command's session on the target: as asked, except that `any` (the default)
    /// with several hosts moves on from a standby or a read-only server to the first host that
    /// can write. Whether the session it got can write is then checked by
    /// `writable::check`, in the round trip it makes anyway (one host, `prefer-standby`).
    /// Its migrations run under the connection's `statement_timeout` (the run has none of its
    /// own): the session keeps it ([`Need::writing`]).
    Write,
    /// [`Need::Write`]'s hosts, for a session whose every statement is the tool's own or a
    /// migration's under the run's own `statement_timeout` (`--statement-timeout`,
    /// `migration.statement_timeout`; `baseline`, `reinit` and `abandon` run no migration):
    /// nothing on it runs under the connection's, so it starts with [`OWN_SESSION_OPTION`]
    /// ([`Need::writing`]).
    WriteBounded,
    /// Creating a database: `--create-database`'s (`CreateDatabase`), or `verify`'s and
    /// `drift`'s scratch one (`Scratch`): the first host that can write, whatever
    /// `target_session_attrs` asks of the target's sessions, checked on every host (one alone
    /// too), so that a standby is named as one rather than failing `CREATE DATABASE`.
    CreateDatabase,
    /// See [`Need::CreateDatabase`].
    Scratch,
    /// Running the user's own query on the target (`--targets-query`, `--schemas-query`,
    /// `db::query`): the host `Read` asks for, keeping the user's `statement_timeout` (of the
    /// database, the role or the connection), which bounds that query as it bounds migration
    /// SQL; the tool's own statements on it turn it off for themselves.
    UserQuery,
}

impl Need {
    /// Whether nothing on a session opened for this runs under the connection's
    /// `statement_timeout`: only the tool's own statements, or migrations under the run's own
    /// bound ([`Need::WriteBounded`]); it starts with [`OWN_SESSION_OPTION`]. A session to
    /// write whose run has no bound of its own (`Write`: `up`, `down`, a replay on a scratch
    /// database) keeps the user's `statement_timeout`, which bounds the migrations' SQL; its
    /// own statements turn it off for themselves (`db::OWN_STATEMENT_BOUNDS`).
    pub(crate) fn own_settings(self) -> bool {
        !matches!(self, Need::Write | Need::UserQuery)
    }

    /// The need of a writing command's session whose migrations run under `run_bound`, the
    /// run's own `statement_timeout` (`None`: the connection's, none of the run's): with one,
    /// the session starts with ours in the startup packet ([`Need::WriteBounded`]), so that
    /// not even its first statement, nor the one after each `RESET ALL`, runs under a
    /// database's or role's tiny `statement_timeout` (1 ms cancelled the first read of a
    /// loaded server); without, the connection's is kept for the migrations ([`Need::Write`]).
    pub(crate) fn writing(run_bound: Option<std::time::Duration>) -> Need {
        match run_bound {
            Some(_) => Need::WriteBounded,
            None => Need::Write,
        }
    }

    /// Whether the session is a writing command's ([`Need::Write`], [`Need::WriteBounded`]).
    pub(crate) fn writes(self) -> bool {
        matches!(self, Need::Write | Need::WriteBounded)
    }

    /// What the hosts are asked for: `None` when a host that can write is.
    fn attrs(self, env: &Environment) -> Option<TargetSessionAttrs> {
        let attrs = env.connection.target_session_attrs;
        match self {
            Need::Read | Need::UserQuery => Some(attrs),
            Need::Write | Need::WriteBounded
                if attrs == TargetSessionAttrs::Any && !env.connection.more_hosts.is_empty() =>
            {
                None
            }
            Need::Write | Need::WriteBounded => Some(attrs),
            Need::CreateDatabase | Need::Scratch => None,
        }
    }
}

/// Which host of the environment's list a session reached, and at which address: what a
/// check after a lost connection reconnects to ([`open_session_on`]), what a scratch database
/// is created and dropped on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reached {
    /// The host and port, as the list names them.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The address and port the connection was made to, host names looked up by us (one
    /// address dialled at a time); `None` over a Unix socket, or when the name could not be
    /// looked up before the driver's own try. The pooler check compares it with the server's
    /// end of the connection ([`pooler::is_direct`]).
    pub(crate) dialled: Option<SocketAddr>,
    /// What the session was opened for.
    pub(crate) need: Need,
    /// The server, or a pooler in front of it, refused our startup options (`options`: PgBouncer
    /// with only `extra_float_digits` in `ignore_startup_parameters`, a server before 14), and
    /// the session was opened again without any ([`open_with`]): it has none of the settings
    /// ours give (`standard_conforming_strings` on, [`STANDARD_STRINGS_OPTION`]) nor the
    /// connection's own `options`. What a refusal of such a setting says
    /// ([`crate::db::settings::SettingOrigin::startup_options_refused`]).
    pub(crate) without_options: bool,
}

impl Reached {
    /// `spec` with only this host (its password-file line).
    pub(crate) fn spec(&self, spec: &ConnectionSpec) -> ConnectionSpec {
        spec.with_host(&self.host, self.port)
    }

    /// Whether this session, opened for what it was, is one `need` would choose on `env`'s
    /// hosts (reading and writing choose alike but for `any` on several hosts) with the
    /// settings `need` starts with: a session opened to read ([`Need::own_settings`]) never
    /// runs migrations.
    pub(crate) fn serves(&self, env: &Environment, need: Need) -> bool {
        self.need.attrs(env) == need.attrs(env) && self.need.own_settings() == need.own_settings()
    }
}

/// A connection with the host it reached.
pub(crate) struct Session {
    pub(crate) client: postgres::Client,
    pub(crate) reached: Reached,
}

/// A session on the host of `env`'s list that `need` asks for.
pub(crate) fn open_session(env: &Environment, need: Need) -> Result<Session> {
    select(env, need).map_err(|failed| failed.into_error(env, need))
}

/// The error [`open_session`] gives for `env`'s database when its server refuses it for not
/// existing (SQLSTATE 3D000, kept as [`Error::sqlstate`]), for a database known absent without
/// connecting: a fleet reads its server's `pg_database` for many names at once
/// (`fleet::absent`). `connectable`: the server's databases that accept connections and are no
/// templates, among which the help looks for a close name ([`explain::close_database`]'s rule).
pub(crate) fn absent_database(env: &Environment, connectable: Vec<String>) -> Error {
    explain(env, Failure::Absent(connectable))
}

/// A new session on the very host (and address, when known) `reached` names, whatever it is
/// now: what confirms what a lost session committed, which no other host can tell.
pub(crate) fn open_session_on(env: &Environment, reached: &Reached) -> Result<Session> {
    let mut one = env.clone();
    one.connection = reached.spec(&env.connection);
    open_at(&one, reached.dialled, reached.need).map_err(|failure| explain(&one, failure))
}

/// Connects to `env`'s database, or `Ok(None)` when the server answers that it does not exist
/// (SQLSTATE 3D000): what `--create-database` asks before creating it. Every other failure is
/// [`connect`]'s error. With several hosts, `None` means that no host connected and one of
/// them said so.
pub fn connect_if_exists(env: &Environment) -> Result<Option<postgres::Client>> {
    let session = blocking_here(|| open_session_if_exists(env, Need::Read))?;
    Ok(session.map(|session| session.client))
}

/// [`connect_if_exists`], with the address dialled.
pub(crate) fn open_session_if_exists(env: &Environment, need: Need) -> Result<Option<Session>> {
    match select(env, need) {
        Ok(session) => Ok(Some(session)),
        Err(failed) if failed.missing_database => Ok(None),
        Err(failed) => Err(failed.into_error(env, need)),
    }
}

/// Why no host gave a session: one error per host tried (in order).
struct NoSession {
    /// With whether the host answered (a server's refusal, or a session that was not the one
    /// asked for), rather than being unreachable.
    errors: Vec<(HostFailure, bool)>,
    /// A host answered that the database does not exist.
    missing_database: bool,
    /// A setting that is wrong whatever the host (boxed: the struct is an `Err`).
    invalid: Option<Box<Error>>,
    /// Every host failed as a server that is not accepting connections yet does
    /// ([`Failure::server_not_ready`]): what `migration.wait_for_server` waits out.
    not_ready: bool,
    /// How long [`select`] waited for the server(s) before giving up, when it did.
    waited: Option<Duration>,
}

/// What one host of [`NoSession`] failed with: its error, or, for a database the server says
/// does not exist, what it is explained from, explained only once the error is wanted
/// ([`NoSession::into_error`]): that explanation asks the server for a database with a close
/// name, on a session of its own ([`explain::close_database`]), which
/// [`open_session_if_exists`], for which a missing database is no error, never needs (it asks
/// itself when it does: `up --create-database` says it before creating).
enum HostFailure {
    Explained(Error),
    MissingDatabase(Box<Environment>, Failure),
}

impl HostFailure {
    fn into_error(self) -> Error {
        match self {
            HostFailure::Explained(error) => error,
            HostFailure::MissingDatabase(env, failure) => explain(&env, failure),
        }
    }
}

/// Where the wait for the server came from, as a setting's help names it: the command's option
/// (`` `--wait-for-server 8s` ``, which a library session's text names as its builder method),
/// else the key of the environment file the settings were read from
/// ([`Environment::settings_origin`]: a fleet target's, its base's), else the environment's
/// setting a program set.
fn wait_set_by(env: &Environment) -> String {
    let wait = crate::db::backoff::human(env.migration.wait_for_server);
    match (env.wait_given, env.settings_origin()) {
        (true, _) => format!("`--wait-for-server {wait}`"),
        (false, (Some(file), _)) => format!(
            "`migration.wait_for_server: {wait}` in {}",
            crate::config::display_path(file)
        ),
        (false, (None, _)) => format!("`MigrationSettings::wait_for_server` {wait}"),
    }
}

impl NoSession {
    fn into_error(self, env: &Environment, need: Need) -> Error {
        let waited = self.waited;
        let error = self.explained(env, need);
        match waited {
            Some(waited) => error.with_detail(format!(
                "waited {:.1}s for the server to accept connections ({})",
                waited.as_secs_f64(),
                wait_set_by(env)
            )),
            None => error,
        }
    }

    /// Why each host failed, in a line: their errors' messages (never a password: a
    /// connection is shown without it).
    fn reason(&self) -> String {
        let reasons: Vec<String> = (self.errors.iter())
            .map(|(failure, _)| match failure {
                HostFailure::Explained(error) => error.message.clone(),
                HostFailure::MissingDatabase(env, _) => {
                    format!("database {} does not exist", env.connection)
                }
            })
            .collect();
        reasons.join("; ")
    }

    /// Whether trying again later may connect: every host tried is not accepting connections
    /// yet, and no setting is wrong whatever the host.
    fn waits(&self) -> bool {
        self.not_ready && self.invalid.is_none() && !self.errors.is_empty()
    }

    fn explained(mut self, env: &Environment, need: Need) -> Error {
        if let Some(invalid) = self.invalid {
            return *invalid;
        }
        if self.errors.len() == 1 {
            return self.errors.remove(0).0.into_error();
        }
        let spec = &env.connection;
        // Only a `target_session_attrs` the user wrote (or left to `any`) is quoted.
        let what = match (need, need.attrs(env)) {
            (Need::Write | Need::WriteBounded, None) => {
                "can be written (a writing command needs the primary)".to_string()
            }
            (_, None) => "can be written (creating a database needs the primary)".to_string(),
            (_, Some(TargetSessionAttrs::Any)) => "accepted the connection".to_string(),
            (_, Some(attrs)) => format!("gave a session with target_session_attrs={attrs}"),
        };
        let mut error = Error::connection(format!("no host of {spec} {what}")).with_reason(
            crate::error::Reason::Database {
                database: spec.to_string(),
            },
        );
        // The help follows the reasons: that of the first host whose server refused the
        // session (the password failed, the database does not exist: SQLSTATE known), which
        // is why no host served, over a host that gave a session of the wrong kind (a standby,
        // whose help speaks of target_session_attrs); else of the first host that answered;
        // else reachability.
        let failures: Vec<(Error, bool)> = (self.errors.into_iter())
            .map(|(failure, answered)| (failure.into_error(), answered))
            .collect();
        let refused = failures
            .iter()
            .position(|(failure, answered)| *answered && failure.sqlstate().is_some());
        let helping = refused.or_else(|| failures.iter().position(|(_, answered)| *answered));
        let mut help = None;
        for (i, (failure, _)) in failures.into_iter().enumerate() {
            if Some(i) == helping {
                help.clone_from(&failure.help);
                // Its SQLSTATE is the error's (JSON `sqlstate`).
                error.share_source_of(&failure);
            }
            // Each host's reason whole: the server's message and SQLSTATE are its cause.
            error = error.with_detail(failure.message_with_cause());
        }
        error.with_help(help.unwrap_or_else(|| {
            format!(
                "check that the hosts are reachable and which one is the primary; the hosts \
                 and target_session_attrs are in {}",
                env.source()
            )
        }))
    }
}

/// [`select_once`], tried again while no host accepts connections yet, within
/// `migration.wait_for_server` ([`ServerWait`]).
/// Each failed try that waits is told to the environment's watch
/// ([`crate::Migrator::on_server_wait`]): the first, then about every
/// [`WaitingForServer::EVERY`].
fn select(env: &Environment, need: Need) -> Result<Session, NoSession> {
    let mut waiting = ServerWait::new(env.migration.wait_for_server);
    loop {
        match select_once(env, need) {
            Err(failed) if failed.waits() => match waiting.next_delay() {
                Some(delay) => {
                    if let (Some(watch), Some((waited, again))) =
                        (&env.server_wait_watch, waiting.tell_now())
                    {
                        (watch.0)(&WaitingForServer {
                            waited,
                            again,
                            wait: env.migration.wait_for_server,
                            reason: failed.reason(),
                        });
                    }
                    std::thread::sleep(delay);
                }
                None => {
                    return Err(NoSession {
                        waited: waiting.waited(),
                        ..failed
                    })
                }
            },
            other => return other,
        }
    }
}

fn select_once(env: &Environment, need: Need) -> Result<Session, NoSession> {
    let spec = &env.connection;
    let mut failed = NoSession {
        errors: Vec::new(),
        missing_database: false,
        invalid: None,
        not_ready: true,
        waited: None,
    };
    let attrs = need.attrs(env);
    // `prefer-standby`: the first host that answered, kept in case no standby does.
    let mut fallback = None;
    let wanted = match attrs {
        Some(TargetSessionAttrs::PreferStandby) => Some(TargetSessionAttrs::Standby),
        attrs => attrs,
    };
    let source = env.source();
    for (host, port) in spec.hosts() {
        let mut one = env.clone();
        one.connection = spec.with_host(host, port);
        let mut session = match open_at(&one, None, need) {
            Ok(session) => session,
            Err(Failure::Setup(error)) => {
                failed.invalid = Some(Box::new(error));
                return Err(failed);
            }
            Err(failure) => {
                failed.not_ready &= failure.server_not_ready();
                let answered = failure.driver().is_some_and(|e| e.as_db_error().is_some());
                let missing = failure
                    .driver()
                    .is_some_and(|e| e.code() == Some(&SqlState::INVALID_CATALOG_NAME));
                failed.missing_database |= missing;
                let failure = match missing {
                    true => HostFailure::MissingDatabase(Box::new(one), failure),
                    false => HostFailure::Explained(explain(&one, failure)),
                };
                failed.errors.push((failure, answered));
                continue;
            }
        };
        // Creating a database needs a server that is not in recovery: a read-only default is
        // lifted for the session that creates (`default_transaction_read_only`, a guard of the
        // target, not of the server).
        let read_only_counts = need.writes();
        // A server that answered is up: what it answered is not waited out.
        failed.not_ready = false;
        match session_mismatch(&mut session.client, wanted, read_only_counts) {
            Ok(None) => return Ok(session),
            Ok(Some(reason)) => {
                let shown = &one.connection;
                let help = match (need, wanted) {
                    (Need::Scratch, None) => format!(
                        "the scratch database is created on the primary: name its host in \
                         {source} (several may be listed, the primary is found among them), or \
                         give `--scratch-url URL` naming a server where this role may create \
                         databases"
                    ),
                    (_, None) => format!(
                        "writing needs the primary: name its host in {source} (several may be \
                         listed, the primary is found among them; after a failover, the \
                         promoted one)"
                    ),
                    (_, Some(TargetSessionAttrs::Primary | TargetSessionAttrs::ReadWrite)) => {
                        format!(
                            "target_session_attrs={} asks for the writable primary: name its \
                             host (several may be listed, the primary is found among them); set \
                             in {source}",
                            spec.target_session_attrs
                        )
                    }
                    _ => format!(
                        "target_session_attrs={} asks for a standby or a read-only \
                         session, and this server is neither: to read from it all the same, \
                         use target_session_attrs=any; set in {source}",
                        spec.target_session_attrs
                    ),
                };
                failed.errors.push((
                    HostFailure::Explained(
                        Error::connection(format!("{shown} {reason}"))
                            .with_reason(crate::error::Reason::Database {
                                database: shown.to_string(),
                            })
                            .with_help(help),
                    ),
                    true,
                ));
                if attrs == Some(TargetSessionAttrs::PreferStandby) && fallback.is_none() {
                    fallback = Some(session);
                }
            }
            Err(error) => failed.errors.push((HostFailure::Explained(error), true)),
        }
    }
    fallback.ok_or(failed)
}

/// Why the session is not what `attrs` asks for, or `None` when it is; `attrs` `None` asks for
/// a server that is not in recovery and, when `read_only_counts`, a session that is not
/// read-only. `any` costs no round trip; the others one (`pg_is_in_recovery()` and
/// `transaction_read_only`, as libpq reads).
fn session_mismatch(
    client: &mut postgres::Client,
    attrs: Option<TargetSessionAttrs>,
    read_only_counts: bool,
) -> Result<Option<&'static str>> {
    if attrs == Some(TargetSessionAttrs::Any) {
        return Ok(None);
    }
    let messages = client
        .simple_query(&super::own_statements(
            "SELECT pg_catalog.pg_is_in_recovery(), \
             pg_catalog.current_setting('transaction_read_only')",
        ))
        .map_err(|e| super::query_error("cannot read whether the server is a standby", e))?;
    let row = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let in_recovery = row.and_then(|r| r.get(0)) == Some("t");
    let read_only = row.and_then(|r| r.get(1)) == Some("on");
    Ok(match attrs {
        Some(TargetSessionAttrs::Primary) if in_recovery => {
            Some("is a standby in recovery, not the primary")
        }
        Some(TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby) if !in_recovery => {
            Some("is not a standby")
        }
        Some(TargetSessionAttrs::ReadWrite) | None if in_recovery => {
            Some("is a standby in recovery")
        }
        Some(TargetSessionAttrs::ReadWrite) if read_only => {
            Some("is read-only (transaction_read_only is on)")
        }
        None if read_only && read_only_counts => Some("is read-only (transaction_read_only is on)"),
        Some(TargetSessionAttrs::ReadOnly) if !read_only => Some("is not read-only"),
        _ => None,
    })
}

/// A session on `env`'s first host, at address `pinned` alone when given. A refusal for too
/// many connections (53300) soon after one of this process's sessions on that server ended is
/// tried again while that session may still be counted there ([`lingering::Retry`]), within
/// `migration.connect_timeout`. `need`: what the session is for, and so the settings it
/// starts with.
fn open_at(env: &Environment, pinned: Option<SocketAddr>, need: Need) -> Result<Session, Failure> {
    let timeout = env.migration.connect_timeout;
    let deadline = (!timeout.is_zero()).then(|| Instant::now() + timeout);
    let mut retry: Option<lingering::Retry> = None;
    loop {
        let failure = match open_or_plain(env, pinned, need) {
            Err(failure) if failure.too_many_connections() => failure,
            other => return other,
        };
        if retry.is_none() {
            retry =
                lingering::Retry::after_refusal(lingering::Server::of(&env.connection), deadline);
        }
        match retry.as_mut().and_then(lingering::Retry::next_delay) {
            Some(delay) => std::thread::sleep(delay),
            None => return Err(failure),
        }
    }
}

/// The wait for a server that does not accept connections yet (`migration.wait_for_server`):
/// [`select`] tries the hosts again, each within `connect_timeout`, until the wait has passed.
struct ServerWait {
    wait: Duration,
    started: Instant,
    backoff: crate::db::backoff::Backoff,
    /// When the wait was last told ([`ServerWait::tell_now`]).
    told: Option<Duration>,
}

/// The first delay between tries (doubled up to [`SERVER_WAIT_MAX`], with jitter): a server
/// starts in a fraction of a second once its process runs.
const SERVER_WAIT_FIRST: Duration = Duration::from_millis(100);
const SERVER_WAIT_MAX: Duration = Duration::from_secs(1);

impl ServerWait {
    fn new(wait: Duration) -> ServerWait {
        ServerWait {
            wait,
            started: Instant::now(),
            backoff: crate::db::backoff::Backoff::new(SERVER_WAIT_FIRST, SERVER_WAIT_MAX),
            told: None,
        }
    }

    /// How long it has waited, when that is to be told now: at the first failed try, then
    /// once [`WaitingForServer::EVERY`] has passed since it was last told.
    /// It is told again ([`WaitingForServer::again`]) after the first time.
    fn tell_now(&mut self) -> Option<(Duration, bool)> {
        let waited = self.started.elapsed();
        let (due, again) = match self.told {
            None => (true, false),
            Some(told) => (waited.saturating_sub(told) >= WaitingForServer::EVERY, true),
        };
        if due {
            self.told = Some(waited);
        }
        due.then_some((waited, again))
    }

    /// How long to sleep before the next try, never past the wait; `None` once it has passed
    /// (or with no wait).
    fn next_delay(&mut self) -> Option<Duration> {
        let left = self.wait.checked_sub(self.started.elapsed())?;
        (!left.is_zero()).then(|| self.backoff.next_delay().min(left))
    }

    /// How long was waited, when there was a wait.
    fn waited(&self) -> Option<Duration> {
        (!self.wait.is_zero()).then(|| self.started.elapsed())
    }
}

/// [`open_at`]'s try. With `sslmode=prefer`, a server whose pg_hba.conf refused the TLS
/// connection (it may admit this host only without TLS, `hostnossl`) is tried once more
/// without TLS, as libpq does; when that fails too, the TLS try's failure is the one
/// explained, with the retry's.
fn open_or_plain(
    env: &Environment,
    pinned: Option<SocketAddr>,
    need: Need,
) -> Result<Session, Failure> {
    match open_with(env, pinned, false, need) {
        Err(Failure::Driver(e, address)) if refused_over_tls(env, &e) => {
            open_with(env, pinned, true, need).map_err(|retry| Failure::RetriedWithoutTls {
                first: (e, address),
                retry: Box::new(retry),
            })
        }
        other => other,
    }
}

/// [`open_at`]'s try, `plain` without TLS whatever the sslmode; a server or pooler that
/// refuses our startup options is tried again without them.
fn open_with(
    env: &Environment,
    pinned: Option<SocketAddr>,
    plain: bool,
    need: Need,
) -> Result<Session, Failure> {
    match attempt(env, true, pinned, plain, need) {
        Err(Failure::Driver(e, _)) if rejects_check_interval(&e) => {
            attempt(env, false, pinned, plain, need)
        }
        other => other,
    }
}

/// Whether `error` is pg_hba.conf refusing `prefer`'s encrypted connection: libpq then
/// retries without TLS. (libpq retries after any refusal of a TLS session; a refusal that does
/// not say it was of an encrypted connection may have come over a plain one, where a retry
/// would only repeat it.)
fn refused_over_tls(env: &Environment, error: &postgres::Error) -> bool {
    let spec = &env.connection;
    spec.sslmode == SslMode::Prefer
        && !spec.is_unix_socket()
        && error.as_db_error().is_some_and(|db| {
            *db.code() == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                && explain::hba_refusal(db.message()) == Some(explain::HbaRefusal::Encrypted)
        })
}

enum Failure {
    Setup(Error),
    /// The driver's error, with the address whose try gave it (`None` when the driver looked
    /// the name up itself, or over a Unix socket).
    Driver(postgres::Error, Option<SocketAddr>),
    /// The host name gave no address: our lookup failed (or found none), and so did the
    /// driver's own try with the name as it is, whose error this is ([`dial`]). Decided by
    /// where it failed, never by the lookup's words (the resolver's errors have no kind of
    /// their own). A name not in the DNS yet (a compose service whose container has not
    /// started) is a server not accepting connections yet ([`Failure::server_not_ready`]).
    Unresolved(postgres::Error),
    /// `sslmode=prefer`'s try over TLS was refused by the server (the driver's error and
    /// address, as in `Driver`), and the retry without TLS failed too.
    RetriedWithoutTls {
        first: (postgres::Error, Option<SocketAddr>),
        retry: Box<Failure>,
    },
    TimedOut(Duration),
    /// The thread that connected died without an answer (a bug in the driver).
    Lost,
    /// None opened: the database is known absent from its server's `pg_database`, read on
    /// another session ([`absent_database`]); the databases there that accept connections
    /// and are no templates, for the help's close name.
    Absent(Vec<String>),
}

impl Failure {
    /// The driver's error that decides what the failure was: the TLS try's after a retry.
    fn driver(&self) -> Option<&postgres::Error> {
        match self {
            Failure::Driver(e, _)
            | Failure::Unresolved(e)
            | Failure::RetriedWithoutTls { first: (e, _), .. } => Some(e),
            _ => None,
        }
    }

    /// The server is not accepting connections yet, as a server still starting (or
    /// restarting) answers, on the try that decided: nothing listens (refused; no Unix
    /// socket yet; a host or network not reachable yet; a host name not in the DNS yet, as
    /// libpq-based tools wait for one in compose setups), the server says it is starting up,
    /// shutting down or recovering (57P03), the connection was closed during the startup
    /// exchange (a container's port published before the server listens behind it), or no
    /// answer within `connect_timeout`. What `migration.wait_for_server` waits out; a
    /// refusal of who we are or of the database is never one.
    fn server_not_ready(&self) -> bool {
        use std::io::ErrorKind as Io;
        match self {
            Failure::Driver(e, _) => {
                e.code() == Some(&SqlState::CANNOT_CONNECT_NOW)
                    || (e.as_db_error().is_none() && e.is_closed())
                    || explain::io_error_of(e).is_some_and(|io| {
                        matches!(
                            io.kind(),
                            Io::ConnectionRefused
                                | Io::NotFound
                                | Io::ConnectionReset
                                | Io::ConnectionAborted
                                | Io::UnexpectedEof
                                | Io::HostUnreachable
                                | Io::NetworkUnreachable
                                | Io::TimedOut
                        )
                    })
            }
            // The driver's own lookup may have found the name since ours failed: a server
            // that then answered is not waited out.
            Failure::Unresolved(e) => e.as_db_error().is_none(),
            Failure::RetriedWithoutTls { retry, .. } => retry.server_not_ready(),
            Failure::TimedOut(_) => true,
            _ => false,
        }
    }

    /// The server refused the session for too many connections (53300), on the try that
    /// decided (after a TLS refusal, on the try without TLS).
    fn too_many_connections(&self) -> bool {
        match self {
            Failure::Driver(e, _) => e.code() == Some(&SqlState::TOO_MANY_CONNECTIONS),
            Failure::RetriedWithoutTls { retry, .. } => retry.too_many_connections(),
            _ => false,
        }
    }
}

/// One try at connecting to `env`'s first host, within `migration.connect_timeout`.
fn attempt(
    env: &Environment,
    check_interval: bool,
    pinned: Option<SocketAddr>,
    plain: bool,
    need: Need,
) -> Result<Session, Failure> {
    let mut config = driver_config(env, check_interval, need);
    let tls = if plain {
        config.ssl_mode(postgres::config::SslMode::Disable);
        None
    } else {
        tls_for(env, &mut config)?
    };
    let spec = &env.connection;
    // The server's `FATAL` read as it goes by (`fatal`): the driver loses it.
    let tls = fatal::observed(tls, spec.is_unix_socket(), &mut config);
    let tcp = (!spec.is_unix_socket()).then(|| (spec.host.clone(), spec.port));
    let (host, port) = (spec.host.clone(), spec.port);
    let server = lingering::Server::of(spec);
    let open = move || {
        dial(&config, tls, tcp, pinned, &server).map(|(client, dialled)| Session {
            client,
            reached: Reached {
                host,
                port,
                dialled,
                need,
                without_options: !check_interval,
            },
        })
    };
    let timeout = env.migration.connect_timeout;
    let session = opened_within(timeout, open);
    if session.is_ok() {
        // Used on this thread from now on: a `FATAL` heard here before is another session's.
        crate::db::notices::forget_heard_end();
    }
    session
}

/// `open()`, given up after `timeout` (none when zero).
fn opened_within(
    timeout: Duration,
    open: impl FnOnce() -> Result<Session, Failure> + Send + 'static,
) -> Result<Session, Failure> {
    if timeout.is_zero() {
        return open();
    }
    // The driver cannot be interrupted, so it runs on a thread we stop waiting for. A late
    // success is dropped (closing the session) when the send finds nobody listening; a server
    // that never answers keeps the thread until it closes the socket.
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("confiture-connect".to_string())
        .spawn(move || {
            let _ = tx.send(open());
        });
    if let Err(e) = spawned {
        return Err(Failure::Setup(
            Error::connection("cannot start a thread to connect").with_source(e),
        ));
    }
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::TimedOut(timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::Lost),
    }
}

/// Connects with `config`, to the TCP host and port `tcp` names one address at a time: the
/// name is looked up here (on the thread the connect timeout covers) and each address, in
/// the resolver's order, given to the driver as `hostaddr` — what the driver itself does with
/// a name, except that we then know which address answered. The host name is still the
/// driver's `host`, for TLS. A name that cannot be looked up here goes to the driver as it
/// is (its error is the one users see), and then which address answered is not known; when
/// that try fails too, the name is [`Failure::Unresolved`]. A [`Failure::Driver`] comes with
/// the address of the try that gave it, when known. `pinned`: that
/// address alone is dialled (the one a session reached before). The end of each session is
/// recorded as one on `server` ([`lingering::watch`]).
fn dial(
    config: &postgres::Config,
    tls: Option<fatal::MakeFatalConnect>,
    tcp: Option<(String, u16)>,
    pinned: Option<SocketAddr>,
    server: &lingering::Server,
) -> Result<(postgres::Client, Option<SocketAddr>), Failure> {
    // A TCP host looked up here that gave no address.
    let unresolved = pinned.is_none() && tcp.is_some();
    let connect = |config: &postgres::Config| {
        let mut config = config.clone();
        let end = lingering::watch(&mut config, server.clone());
        let client = match &tls {
            Some(tls) => config.connect(tls.clone()),
            None => config.connect(postgres::NoTls),
        }?;
        end.opened();
        Ok(client)
    };
    let addresses: Vec<SocketAddr> = match pinned {
        Some(address) => vec![address],
        None => tcp
            .and_then(|(host, port)| (host.as_str(), port).to_socket_addrs().ok())
            .map(Iterator::collect)
            .unwrap_or_default(),
    };
    let mut last = None;
    for address in addresses {
        let mut pinned = config.clone();
        pinned.hostaddr(address.ip());
        match connect(&pinned) {
            Ok(client) => return Ok((client, Some(address))),
            Err(e) => last = Some(Failure::Driver(e, Some(address))),
        }
    }
    match last {
        Some(failed) => Err(failed),
        None => connect(config)
            .map(|client| (client, None))
            .map_err(|e| match unresolved {
                true => Failure::Unresolved(e),
                false => Failure::Driver(e, None),
            }),
    }
}

/// The sessions holding a lock on a system catalog of `env`'s database that a session starting
/// there waits for ([`crate::db::lock::catalog_lock_holders`]), asked after a connection to it
/// got no session in time from a maintenance database of the same server (`postgres`, else
/// `template1`; not `env`'s own), with the same credentials, within `wait` to connect: `None`
/// when none could be asked ([`ask_catalog_lock_holders`] says why). Also what a run whose own
/// statement waited for such a lock asks when its own session cannot read `pg_locks`
/// (`apply::failure::catalog_locked`).
pub(crate) fn catalog_lock_holders(
    env: &Environment,
    wait: Duration,
) -> Option<Vec<(String, crate::db::lock::LockHolder)>> {
    ask_catalog_lock_holders(env, wait).ok()
}

/// Why [`ask_catalog_lock_holders`] asked no one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unasked {
    /// No session of a maintenance database started within the wait, not one refused: what a
    /// lock on a shared catalog (`pg_authid`, `pg_database`; a `LOCK pg_catalog.pg_stat_activity`
    /// takes both, the view's tables) does to every session starting on the server, before
    /// anything of it can be bounded or asked.
    NoSessionStarted,
    /// Refused, or the read failed.
    Failed,
}

/// [`catalog_lock_holders`], with why none could be asked.
pub(crate) fn ask_catalog_lock_holders(
    env: &Environment,
    wait: Duration,
) -> std::result::Result<Vec<(String, crate::db::lock::LockHolder)>, Unasked> {
    let mut unasked = Unasked::NoSessionStarted;
    for name in crate::db::MAINTENANCE_DATABASES {
        if name == env.connection.dbname {
            continue;
        }
        let mut maintenance = env.clone();
        maintenance.connection.dbname = name.to_string();
        maintenance.migration.connect_timeout = wait;
        let mut session = match attempt(&maintenance, true, None, false, Need::Read) {
            Ok(session) => session,
            Err(Failure::TimedOut(_)) => continue,
            Err(_) => {
                unasked = Unasked::Failed;
                continue;
            }
        };
        let dbname = &env.connection.dbname;
        match crate::db::lock::catalog_lock_holders(&mut session.client, Some(dbname), 5) {
            Ok(holders) => return Ok(holders),
            Err(_) => unasked = Unasked::Failed,
        }
    }
    Err(unasked)
}

/// The startup options a session of `env` sends, in order, each with whether it is ours (else
/// the connection's own `options`): **the one list** the driver is given ([`driver_config`])
/// and the session's first query checks arrived ([`sent_settings`]). Ours go together: the
/// retry for a pooler that refuses `options` (`check_interval` false) sends none (the tool's
/// own statements then turn `statement_timeout` off for themselves, as a writing session's do).
fn startup_options(env: &Environment, check_interval: bool, need: Need) -> Vec<(&str, bool)> {
    let own = (check_interval && need.own_settings()).then_some(OWN_SESSION_OPTION);
    check_interval
        .then_some([CHECK_INTERVAL_OPTION, STANDARD_STRINGS_OPTION])
        .into_iter()
        .flatten()
        .map(|options| (options, true))
        .chain((env.connection.options.as_deref()).map(|options| (options, false)))
        .chain(own.map(|options| (options, true)))
        .collect()
}

/// The settings the session `reached` opened was sent in its startup options
/// ([`startup_options`]), each once (a later one wins, as on the server): what
/// [`pooler::refuse_dropped_options`] checks arrived. None for a connection handed over.
pub(crate) fn sent_settings(env: &Environment, reached: Option<&Reached>) -> Vec<SentSetting> {
    let Some(reached) = reached else {
        return Vec::new();
    };
    let mut sent: Vec<SentSetting> = Vec::new();
    for (options, ours) in startup_options(env, !reached.without_options, reached.need) {
        for (name, value) in crate::config::option_settings(options) {
            sent.retain(|s| s.name != name);
            sent.push(SentSetting { name, value, ours });
        }
    }
    sent
}

/// The driver's settings for `env`: target, startup options (with [`OWN_SESSION_OPTION`] when
/// `need` is the tool's own), timeout, keepalives.
fn driver_config(env: &Environment, check_interval: bool, need: Need) -> postgres::Config {
    let spec = &env.connection;
    let mut config = postgres::Config::new();
    if spec.is_unix_socket() {
        config.host_path(&spec.host);
    } else {
        config.host(&spec.host);
    }
    config.port(spec.port).user(&spec.user).dbname(&spec.dbname);
    config.application_name(&env.application_name);
    // The notice callback is set for each try, by `dial` (`lingering::watch`).
    if let Some(password) = &spec.password {
        config.password(password);
    }
    let options: Vec<&str> = startup_options(env, check_interval, need)
        .into_iter()
        .map(|(options, _)| options)
        .collect();
    if !options.is_empty() {
        config.options(&options.join(" "));
    }
    let timeout = env.migration.connect_timeout;
    if !timeout.is_zero() {
        config.connect_timeout(timeout);
    }
    // A network that silently drops every packet must not hang the CLI forever: keepalive
    // probes find the server gone while we wait for an answer (a busy server's kernel still
    // answers them, so a long migration is never cut), and TCP_USER_TIMEOUT while what we sent
    // stays unacknowledged. Either way the read fails and the run ends as a lost connection.
    config
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_RETRIES)
        .tcp_user_timeout(TCP_USER_TIMEOUT);
    config
}

/// Takes over a connection handed over by the caller (`Migrator::with_client`): asks which
/// database it is to and whether it is inside a transaction block, then puts the session back
/// to its connection-time state (`apply::RESET_SESSION`). A connection to another database
/// than `env`'s is refused (a usage error naming both) before any command reads or writes
/// through it ([`Reason::AnotherDatabase`](crate::error::Reason::AnotherDatabase)): its
/// reports and errors would name `env`'s database while another one is migrated. The server's address is not visible to a session, so the database name is what
/// is compared. A connection inside a transaction block is refused too
/// ([`Reason::InTransaction`](crate::error::Reason::InTransaction)): the engine's own
/// transactions, lock and reset would run inside the caller's, and its `BEGIN` would look
/// like a pooler's (the pooler check compares transactions). Told by the transaction's start,
/// `now()`, which a message run outside a block shares with `statement_timestamp()` (the
/// driver keeps the server's transaction status to itself), or by the failed transaction's
/// refusal (25P02); asked before the reset, which would otherwise run in that transaction,
/// and alone, with the database's name: nothing that statement reads can spill or wait, and
/// the tool's own reads' bounds (`SET LOCAL`), which the rest is read under (`pg_settings`,
/// `pg_stat_activity`: rows built in a tuple store), would stay in the caller's transaction.
/// Each refusal ends with what the command (`effect`) did not do.
pub(crate) fn adopt_handed_over(
    client: &mut postgres::Client,
    env: &Environment,
    effect: crate::plan::Effect,
) -> Result<()> {
    let asked = client.simple_query(
        "SELECT pg_catalog.current_database(), \
         pg_catalog.now() OPERATOR(pg_catalog.<>) pg_catalog.statement_timestamp()",
    );
    let messages = match asked {
        Ok(messages) => messages,
        Err(e) if e.code() == Some(&postgres::error::SqlState::IN_FAILED_SQL_TRANSACTION) => {
            return Err(in_transaction(env, true, effect));
        }
        Err(e) => {
            return Err(super::query_error(
                "cannot reset the session handed over",
                e,
            ))
        }
    };
    let row = |messages: &[postgres::SimpleQueryMessage]| {
        messages.iter().find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => Some((
                row.get(0).map(str::to_string),
                row.get(1).map(str::to_string),
            )),
            _ => None,
        })
    };
    let (connected, in_block) = row(&messages).unwrap_or_default();
    let named = &env.connection.dbname;
    match connected {
        Some(connected) if connected != *named => return Err(another_database(env, &connected)),
        _ => {}
    }
    if in_block.as_deref() == Some("t") {
        return Err(in_transaction(env, false, effect));
    }
    let messages = client
        .simple_query(&super::own_statements(
            "SELECT (SELECT reset_val FROM pg_catalog.pg_settings \
             WHERE name OPERATOR(pg_catalog.=) 'search_path'), \
             COALESCE((SELECT usename FROM pg_catalog.pg_stat_activity \
             WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), session_user)",
        ))
        .map_err(|e| super::query_error("cannot reset the session handed over", e))?;
    let (search_path, login) = row(&messages).unwrap_or_default();
    match login {
        Some(login) if login != env.connection.user => {
            return Err(another_user(env, &login, effect))
        }
        _ => {}
    }
    if let (Some(schema), Some(search_path)) = (&env.migration.tenant_schema, search_path) {
        refuse_unpinned_tenant(env, schema, &search_path, effect)?;
    }
    client
        .batch_execute(super::apply::RESET_SESSION)
        .map_err(|e| super::query_error("cannot reset the session handed over", e))
}

/// Refuses a connection handed over for a tenant schema's session ([`crate::fleet::Target::schema`])
/// whose `search_path` does not go back to the schema alone: a session of ours is opened with
/// it as its own (`-c search_path=...`), so that the reset before each migration (`RESET ALL`)
/// keeps it, but a service's connection goes back to its own (`"$user", public`), where the
/// tenant's migrations would build while its ledger records them — and the next tenant's fail.
/// `search_path` is what `RESET ALL` gives (`pg_settings.reset_val`).
fn refuse_unpinned_tenant(
    env: &Environment,
    schema: &str,
    search_path: &str,
    effect: crate::plan::Effect,
) -> Result<()> {
    if crate::fleet::pins_tenant(search_path, schema) {
        return Ok(());
    }
    Err(Error::usage(format!(
        "the connection handed over with with_client to {} resolves names through its own \
         search_path (`{}`), not through tenant schema {schema} alone: the tenant's \
         migrations would build in another schema; {}",
        env.connection,
        crate::display::escape(search_path),
        effect.nothing_done()
    ))
    .with_help(format!(
        "open the connection with the tenant's search_path as its own (the connection option \
         `options=-c search_path={}`), as the Migrator's own connection for the tenant is, or \
         let the Migrator connect by itself (no with_client)",
        crate::fleet::tenant_search_path(schema)
    )))
}

/// The refusal of a connection handed over that is to database `connected`, not to the one
/// `env` names ([`Reason::AnotherDatabase`](crate::error::Reason::AnotherDatabase)).
fn another_database(env: &Environment, connected: &str) -> Error {
    let named = &env.connection.dbname;
    Error::usage(format!(
        "the connection handed over with with_client is to database {}, not to {}, the \
         environment's ({})",
        crate::config::quoted(connected),
        crate::config::quoted(named),
        env.connection
    ))
    .with_help(format!(
        "hand with_client a connection to {}, or give the Migrator an environment that \
         names {}",
        crate::config::quoted(named),
        crate::config::quoted(connected)
    ))
    .with_reason(crate::error::Reason::AnotherDatabase {
        connected: connected.to_string(),
        named: named.clone(),
    })
}

/// The refusal of a connection handed over that logged in as `login`, not as the user `env`
/// names ([`Reason::AnotherUser`](crate::error::Reason::AnotherUser)).
fn another_user(env: &Environment, login: &str, effect: crate::plan::Effect) -> Error {
    let named = &env.connection.user;
    Error::usage(format!(
        "the connection handed over with with_client is logged in as user {}, not as {}, the \
         environment's ({}); {}",
        crate::config::quoted(login),
        crate::config::quoted(&env.connection.shown_user()),
        env.connection,
        effect.nothing_done()
    ))
    .with_detail(
        "the migrations would run, and their objects be owned, as that user, while reports \
         and errors named the environment's",
    )
    .with_help(format!(
        "hand with_client a connection logged in as {}, or give the Migrator an environment \
         that names user {} (e.g. built from the same URL as the connection)",
        crate::config::quoted(&env.connection.shown_user()),
        crate::config::quoted(login)
    ))
    .with_reason(crate::error::Reason::AnotherUser {
        connected: login.to_string(),
        named: named.clone(),
    })
}

/// The refusal of a connection handed over inside a transaction block (`failed`: one the
/// server already aborted).
fn in_transaction(env: &Environment, failed: bool, effect: crate::plan::Effect) -> Error {
    let what = if failed {
        "a transaction that failed and was not rolled back"
    } else {
        "an open transaction (a `BEGIN` not yet committed or rolled back)"
    };
    Error::usage(format!(
        "the connection handed over with with_client to {} is inside {what}; {}",
        env.connection,
        effect.nothing_done()
    ))
    .with_detail(
        "the migration lock, the session reset and each migration's transaction would run \
         inside it, mixed with the caller's work",
    )
    .with_help(
        "COMMIT or ROLLBACK the connection's transaction before handing it to with_client \
         (the transaction is left as it was)",
    )
    .with_reason(crate::error::Reason::InTransaction)
}

/// Asks the server to cancel the statement running on the session `token` belongs to (what
/// libpq's `PQcancel` does), over a connection made as `env`'s sessions are: TLS by its
/// sslmode, the address the session dialled. Whether the request was delivered; the server
/// ignores one that finds the session idle. Over TLS it returns once the server closed the
/// request's connection, having signalled the session ([`cancel`]): a statement the session
/// sends after that is never cancelled by it. A plain request is only written.
pub(crate) fn cancel_query(token: &postgres::CancelToken, env: &Environment) -> bool {
    match tls_for(env, &mut postgres::Config::new()) {
        Ok(Some(tls)) => token.cancel_query(cancel::MakeCancelConnect(tls)).is_ok(),
        // A plain TCP session's token asks for its connector (`fatal::observed`).
        Ok(None) => token.cancel_query(cancel::MakePlainCancel).is_ok(),
        Err(_) => false,
    }
}

/// Cancels the statement the server session `identity` ([`SESSION_IDENTITY`]: its process id
/// and its server's start time) runs, from a new session of `env` (`pg_cancel_backend`):
/// whether the server signalled it (or found it gone) before this returned. A cancel request
/// ([`cancel_query`]) is only sent: the server handles it when it gets to it, and one it gets to
/// after the statement ended cancels whatever the session runs next (libpq's `PQcancel` waits
/// for the server for this reason; the driver's request does not). `false`, having done
/// nothing, when no session connects, the session reached another server (a list of hosts),
/// or the identity is not one: the caller then sends the request.
pub(crate) fn cancel_session(identity: &str, env: &Environment) -> bool {
    let Some((pid, same_server)) = session_of_identity(identity) else {
        return false;
    };
    let Ok(mut client) = connect(env) else {
        return false;
    };
    let sql = crate::db::own_statements(&format!(
        "SELECT pg_catalog.pg_cancel_backend({pid}) WHERE {same_server}"
    ));
    let done = client.simple_query(&sql).is_ok_and(|messages| {
        messages
            .iter()
            .any(|m| matches!(m, postgres::SimpleQueryMessage::Row(_)))
    });
    let _ = client.close();
    done
}

/// The backend pid of a server session `identity` names ([`SESSION_IDENTITY`]: `pid started`),
/// and the SQL condition that holds only on the server that session is on (the pid is that
/// server's, and another server's pid says nothing): `None` for text of another shape.
pub(crate) fn session_of_identity(identity: &str) -> Option<(i32, String)> {
    let mut parts = identity.split(' ');
    let (Some(Ok(pid)), Some(Ok(started)), None) = (
        parts.next().map(str::parse::<i32>),
        parts.next().map(str::parse::<i64>),
        parts.next(),
    ) else {
        return None;
    };
    Some((
        pid,
        format!("{SERVER_START} OPERATOR(pg_catalog.=) '{started}'"),
    ))
}

/// The TLS connector `env`'s sslmode asks for (set on `config`), or none.
fn tls_for(
    env: &Environment,
    config: &mut postgres::Config,
) -> Result<Option<MakeRustlsConnect>, Failure> {
    let spec = &env.connection;
    // PostgreSQL has no TLS over Unix sockets, and libpq never asks for it there, whatever the
    // sslmode (`require` and the verify modes included: the socket is local, the kernel's):
    // neither do we.
    let tls_mode = match (spec.sslmode, spec.is_unix_socket()) {
        (SslMode::Disable, _) | (_, true) => None,
        (SslMode::Prefer, false) => Some(postgres::config::SslMode::Prefer),
        (_, false) => Some(postgres::config::SslMode::Require),
    };
    match tls_mode {
        Some(mode) => {
            config.ssl_mode(mode);
            Ok(Some(
                super::tls::make_connect(spec).map_err(Failure::Setup)?,
            ))
        }
        None => {
            config.ssl_mode(postgres::config::SslMode::Disable);
            Ok(None)
        }
    }
}

/// Whether `env`'s server, or a pooler in front of it, that refused a session with SQLSTATE
/// 08P01 (a protocol violation, PgBouncer's own code) gives one without any startup options:
/// a pooler refusing `options` (PgBouncer without `options` in `ignore_startup_parameters`),
/// which the retry without ours ([`open_with`]) still sent when the connection has options of
/// its own (a tenant's `search_path`). Asked only to explain that refusal: one more try, its
/// session closed at once; `false` without options of the connection's own.
fn accepts_without_options(env: &Environment) -> bool {
    if (env.connection.options.as_deref()).is_none_or(|o| o.trim().is_empty()) {
        return false;
    }
    let mut bare = env.clone();
    bare.connection.options = None;
    attempt(&bare, false, None, false, Need::Read).is_ok()
}

/// The server, or a pooler in front of it, refused a startup parameter: PostgreSQL before 14
/// does not know `client_connection_check_interval` (42704, undefined_object), PgBouncer
/// refuses the `options` parameter (08P01, protocol_violation). Told by the SQLSTATE, never by
/// the wording; a refusal of the user's own `options` fails the same way on the retry.
fn rejects_check_interval(error: &postgres::Error) -> bool {
    error.code().is_some_and(|code| {
        *code == SqlState::UNDEFINED_OBJECT || *code == SqlState::PROTOCOL_VIOLATION
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several hosts, the first a standby (a session of the wrong kind for a writing
    /// command), the primary refusing the password (28P01): the help is the password's, not
    /// the standby's about target_session_attrs, which no host would change.
    #[test]
    fn a_refused_password_on_the_primary_helps_over_a_standby() {
        let env = Environment::from_url("postgresql://app@standby,primary/app", "test").unwrap();
        let standby = Error::connection("app@standby:5432/app is a standby in recovery")
            .with_help("writing needs the primary: name its host");
        let refused = Error::connection("password authentication failed for app@primary")
            .with_source(crate::error::ServerError {
                sqlstate: "28P01".to_string(),
                message: "password authentication failed for user \"app\"".to_string(),
            })
            .with_help("check the password of user app");
        for order in [[0, 1], [1, 0]] {
            let hosts = [standby.clone(), refused.clone()];
            let failed = NoSession {
                errors: order
                    .iter()
                    .map(|&i| (HostFailure::Explained(hosts[i].clone()), true))
                    .collect(),
                missing_database: false,
                invalid: None,
                not_ready: false,
                waited: None,
            };
            let error = failed.into_error(&env, Need::Write);
            assert_eq!(
                error.help.as_deref(),
                Some("check the password of user app"),
                "{error:?}"
            );
            assert_eq!(error.sqlstate(), Some("28P01"), "{error:?}");
            assert_eq!(error.details.len(), 2, "{error:?}");
        }
    }

    /// Every session on which nothing runs under the connection's `statement_timeout` starts
    /// with ours, after the connection's own `options` (it wins there): the tool's own
    /// sessions, and a writing one whose run has a bound of its own (`Need::writing`), whose
    /// first message (the session-state read) ran under a database's 1 ms otherwise. Only a
    /// run without one, and the user's query, keep the connection's; so does a session opened
    /// again without options (a pooler that refuses them), which sends none of ours.
    #[test]
    fn only_sessions_that_run_sql_under_the_connections_bound_keep_it() {
        let env = Environment::from_url(
            "postgresql://app@db/app?options=-c%20statement_timeout%3D1",
            "test",
        )
        .unwrap();
        let options = |check_interval: bool, need: Need| {
            let config = driver_config(&env, check_interval, need);
            config.get_options().unwrap_or_default().to_string()
        };
        let bound = Some(Duration::from_secs(60));
        for need in [
            Need::Read,
            Need::writing(bound),
            Need::WriteBounded,
            Need::CreateDatabase,
            Need::Scratch,
        ] {
            let sent = options(true, need);
            assert!(
                sent.ends_with(&format!("-c statement_timeout=1 {OWN_SESSION_OPTION}")),
                "{need:?}: {sent}"
            );
            assert!(need.own_settings(), "{need:?}");
        }
        for need in [Need::writing(None), Need::Write, Need::UserQuery] {
            let sent = options(true, need);
            assert!(sent.ends_with("-c statement_timeout=1"), "{need:?}: {sent}");
            assert!(!need.own_settings(), "{need:?}");
        }
        for need in [Need::writing(bound), Need::writing(None), Need::Read] {
            assert_eq!(options(false, need), "-c statement_timeout=1", "{need:?}");
        }
        // Hosts are chosen for a write alike, whatever the run's bound.
        let two = Environment::from_url("postgresql://app@a,b/app", "test").unwrap();
        assert_eq!(Need::Write.attrs(&two), Need::WriteBounded.attrs(&two));
        assert!(Need::WriteBounded.writes() && Need::Write.writes() && !Need::Read.writes());
    }
}
