//! `Migrator`: the library facade — what the CLI, applications and xtask flows call — and its
//! commands, one file per command family:
//!
//! - this file: construction, the connection (opened lazily, closed when the `Migrator` is
//!   dropped), running off an async runtime;
//! - [`options`] and [`report`]: what a command is asked, what it
//!   reports as it goes ([`Progress`]) and when done, [`Failed`];
//! - `run`: what the commands share (the failure inside a run, the migration lock, the loop
//!   that runs migrations one transaction each, timing and reporting);
//! - `up` (with `up_ahead`: what it prepares while its files are read), `down`, `rewrite`
//!   (`baseline` and `reinit`: one ledger rewrite) and `status`.
//!
//! Every command refuses what it can before connecting (bad flags, lint errors), takes the
//! migration lock on the connection that does the work, reads the ledger *after* the lock (a
//! runner that waited finds the work done and succeeds), plans with [`crate::plan`], and runs
//! with `db::apply` (crate-private). Dry runs read but never write: no table, no lock, no row.
//!
//! A failed command returns [`Failed`]: the error (its kind decides the exit code) and the
//! report of what was done before it, with the error in `errors` — the JSON a deploy script reads.
//!
//! The same module is reachable as `confiture::migrate` (its name before 0.x): every
//! `confiture::migrate::X` path keeps working.

// Failures carry the report and file position a deploy script needs; they are the cold path,
// so their size does not matter and boxing would only make the public API clumsier.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use crate::config::{self, Environment, Selection};
use crate::embedded::EmbeddedMigrations;
use crate::error::{Error, Result};
use crate::files::{self, CheckOptions, Checked};
use crate::workspace::Workspace;

mod bounded;
pub(crate) use bounded::reported_together;
mod down;
mod lost;
pub mod options;
pub mod report;
mod rewrite;
mod run;
mod status;
mod up;
pub(crate) mod up_ahead;

pub use crate::db::apply::Direction;
pub use crate::db::lock::{HolderTool, HoldingSession, LockHolder, PreparedTransaction};
pub use bounded::SoFar;
pub use options::{
    AbandonOptions, BaselineOptions, DownOptions, ReinitOptions, StatusOptions, UpOptions,
    DEFAULT_LOCK_WAIT, SQL_TIMEOUT_FLAGS,
};
pub use report::{
    no_progress, AbandonReport, AbandonedRun, BaselineReport, DownReport, Failed, MigrationReport,
    Outcome, Progress, RecordedOverRun, ReinitReport, ReinitRow, ReportedDivergence, ReportedError,
    ReportedUnrollable, UpReport,
};

/// Whether a session's writing command has taken its migration lock ([`Migrator::lock_taken`]):
/// a handle on the engine's own state, shared by the session's copies.
#[derive(Debug, Clone, Default)]
pub struct LockTaken(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl LockTaken {
    /// Whether the lock was taken: from then on the command may write, and a stop rolls back
    /// what it has not committed.
    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The server granted the lock (`true`), or a writing command starts (`false`).
    pub(crate) fn set(&self, taken: bool) {
        self.0.store(taken, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How long a stop ([`Migrator::stop_when`], [`Fleet::stop_when`](crate::fleet::Fleet::stop_when))
/// waits on the server, the one bound of a stop: a cancel request the server, or a pooler or
/// proxy in between, takes and never answers (its process frozen, its kernel still
/// accepting, a TLS negotiation never answered) is given up within it (3 s), none sent
/// again, so that a run whose session still answers ends with its own report; and a
/// command not ended `STOP_WAIT` after the flag was set (its session frozen: the statement's
/// end never reaches us) returns all the same, `interrupted`, with what its progress said
/// ([`SoFar`]). The CLI's own exit after a first signal comes 2 s after it.
pub const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The most connections `up`, `down` and `status` hold at once on their database: the
/// session; a fleet's help for a target refused for too many connections counts it
/// (`verify::CONNECTIONS_AT_ONCE` is `verify`'s and `drift`'s).
pub(crate) const CONNECTIONS_AT_ONCE: usize = 1;

/// What [`Migrator::on_connect`] registers.
pub(crate) type OnConnect = Box<dyn FnOnce(&Environment) + Send>;

/// The check [`Migrator::before_connecting`] registers.
pub(crate) type ConnectCheck = Box<dyn FnOnce(&Environment) -> Result<()> + Send>;

/// What [`Migrator::before_connecting`] registers, and what became of it.
pub(crate) enum BeforeConnect {
    /// Not asked yet.
    Check(ConnectCheck),
    /// Being asked by a command: any other is refused meanwhile, and for good when the check
    /// panicked (its caller may catch that and try again: never unchecked).
    Asking,
    /// Asked, and refused: every command of the session is refused with this error.
    Refused(Error),
}

/// What [`Migrator::before_connecting`] registered, shared with the session's
/// [`Migrator::detached`] copies: an `*_async` command whose future was dropped, or that
/// panicked, leaves the check's answer to the `Migrator` it stood in for.
pub(crate) type SharedBeforeConnect = std::sync::Arc<std::sync::Mutex<Option<BeforeConnect>>>;

/// A migration session against one database, with one migrations directory or one set of
/// migrations embedded in the binary ([`Migrator::from_embedded`]).
///
/// Its commands block. Called on a thread of a tokio runtime (inside `#[tokio::main]`, an
/// async fn, a `current_thread` runtime), a command runs on a thread of its own and the caller
/// waits for it: it works, never panics with "Cannot start a runtime from within a runtime",
/// but it blocks that runtime thread meanwhile. Async code should call the `*_async` commands
/// (feature `tokio`) instead, which run it on `tokio::task::spawn_blocking`.
pub struct Migrator {
    pub(crate) env: Environment,
    pub(crate) migrations_dir: PathBuf,
    /// Who named `migrations_dir`: what an error about the directory says to change
    /// ([`Migrator::migrations_dir_named_by`]).
    pub(crate) dir_named_by: files::DirNamedBy,
    /// The migrations compiled into the binary, read instead of `migrations_dir`.
    pub(crate) embedded: Option<&'static EmbeddedMigrations>,
    pub(crate) check_options: CheckOptions,
    pub(crate) client: Option<postgres::Client>,
    /// The host `client` reached, the address it dialled (the pooler check's shortcut,
    /// `db::connect::is_direct`) and what for, when this session opened it; `None` for a
    /// connection handed over.
    pub(crate) reached: Option<crate::db::connect::Reached>,
    /// The client was handed over ([`Migrator::with_client`]) and its session not yet put back
    /// to its connection-time state: done on first use, as the engine's own connection starts.
    pub(crate) reset_pending: bool,
    /// `client` is the one handed over ([`Migrator::with_client`]), which the session keeps
    /// until [`Migrator::into_client`]: never closed by [`Migrator::close_own_session`].
    pub(crate) handed_over: bool,
    /// Called once, just before the first connection: see [`Migrator::on_connect`].
    pub(crate) on_connect: Option<OnConnect>,
    /// Asked once, before [`Migrator::on_connect`], and its refusal kept: see
    /// [`Migrator::before_connecting`].
    pub(crate) before_connect: SharedBeforeConnect,
    /// The migrations already read and checked, given by a fleet to each of its targets
    /// (`fleet::Fleet`): [`Migrator::load`] returns them instead of reading the files again.
    pub(crate) preloaded: Option<std::sync::Arc<Checked>>,
    /// The database is a scratch one of this command (`migrate verify`, `migrate drift`),
    /// built from the files alone: a failure for want of a squashed history's schema snapshot
    /// says verify cannot check it, a refusal for broken files suggests no `migrate up
    /// --target`, and a failed migration's help names this command ([`ApplySettings::scratch`](crate::db::apply::ApplySettings)).
    pub(crate) on_scratch: Option<&'static str>,
    /// A fleet target's place among the databases its command's targets reached
    /// (`fleet::Claim`): each new session of this one is refused, before anything runs on it,
    /// when another target reached the same database first.
    pub(crate) claim: Option<crate::fleet::Claim>,
    /// The session is one target of a fleet (`fleet::Fleet`): a migration that fails here may
    /// be applied on other targets already, so its help never says to edit its file.
    pub(crate) in_fleet: bool,
    /// What the commands suggested in this session's errors repeat, so that pasted they reach
    /// its database and migrations ([`Migrator::suggesting`]).
    pub(crate) suggest: crate::hint::Invocation,
    /// Set from outside to stop `up` and `down` ([`Migrator::stop_when`]).
    pub(crate) stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Whether the writing command running has taken its migration lock
    /// ([`Migrator::lock_taken`]): shared by every copy of the session, the one a command's
    /// thread runs on included.
    pub(crate) lock_taken: LockTaken,
    /// A fleet's flag, set when a writing session of its run opens the pooler check's second
    /// connection (`db::writable::Target::second_connection`).
    pub(crate) second_connection: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Where a command that can be stopped reports, from outside its thread, what a lasting
    /// message waits for (`Progress::LockBlocked`, `apply::Stop::report_waits`): set by
    /// [`Migrator::bounded`], whose caller's thread hands each to the progress callback.
    pub(crate) waits: Option<std::sync::mpsc::Sender<Progress>>,
    /// Other migrations directories writing the same ledger (workspace members on the same
    /// database and tracking table): see [`Migrator::sharing_ledger_with`].
    pub(crate) shared_ledgers: std::sync::Arc<Vec<crate::plan::SharedLedger>>,
}

impl Migrator {
    /// A session for `env`'s database and the migrations in `migrations_dir`. Nothing is
    /// read or connected until a command needs it.
    ///
    /// ```no_run
    /// use confiture::config::Environment;
    /// use confiture::files::CheckOptions;
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let env = Environment::from_url("postgresql://app@db.internal/app", "DATABASE_URL")?;
    /// let migrator = confiture::Migrator::new(env, "db/migrations", CheckOptions::default());
    /// assert_eq!(migrator.migrations_dir(), std::path::Path::new("db/migrations"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(
        env: Environment,
        migrations_dir: impl Into<PathBuf>,
        mut check_options: CheckOptions,
    ) -> Migrator {
        if check_options.tracking_table.is_none() {
            check_options.tracking_table = Some(env.migration.tracking_table.clone());
        }
        let migrations_dir = migrations_dir.into();
        Migrator {
            suggest: crate::hint::Invocation::for_session(&env, Some(&migrations_dir)),
            env,
            migrations_dir,
            dir_named_by: files::DirNamedBy::Library,
            embedded: None,
            check_options,
            client: None,
            reached: None,
            reset_pending: false,
            handed_over: false,
            on_connect: None,
            before_connect: SharedBeforeConnect::default(),
            preloaded: None,
            on_scratch: None,
            claim: None,
            in_fleet: false,
            stop: None,
            lock_taken: LockTaken::default(),
            second_connection: None,
            waits: None,
            shared_ledgers: std::sync::Arc::default(),
        }
    }

    /// A session for `env`'s database and the migrations embedded in the binary by
    /// `confiture-build` (`confiture::include_migrations!()`): no file is read. The plan, the
    /// ledger rows, the checksums and the refusals are those the same files in a directory
    /// give, and errors name them by the path they were built from (`db/migrations/...`).
    ///
    /// ```no_run
    /// use confiture::config::Environment;
    /// use confiture::embedded::EmbeddedMigrations;
    /// use confiture::migrate::{no_progress, UpOptions};
    ///
    /// // In the application: `confiture::include_migrations!()`.
    /// fn migrate(url: &str, migrations: &'static EmbeddedMigrations) -> confiture::Result<()> {
    ///     let env = Environment::from_url(url, "DATABASE_URL")?;
    ///     let mut migrator = confiture::Migrator::from_embedded(env, migrations);
    ///     migrator.up(&UpOptions::default(), &mut no_progress)?;
    ///     Ok(())
    /// }
    /// ```
    pub fn from_embedded(env: Environment, migrations: &'static EmbeddedMigrations) -> Migrator {
        let mut migrator = Migrator::new(
            env,
            migrations.dir().to_path_buf(),
            migrations.check_options(),
        );
        migrator.embedded = Some(migrations);
        migrator
    }

    /// Hands this session a connection the caller already holds (a service that keeps one
    /// open, a pool's connection): its commands use it instead of connecting, so
    /// [`Migrator::on_connect`] is not called ([`Migrator::before_connecting`]'s check is
    /// asked, before the connection is first used). Get it back with [`Migrator::into_client`].
    ///
    /// The session is the engine's as with its own connection: `up` and `down` take the
    /// migration lock on it and release it, each migration starts from a reset session
    /// (`RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL`), and what a migration sets
    /// (`SET ROLE`, `search_path`) does not outlive it, nor what it creates in the session:
    /// after a migration that mentions them, temporary tables (`DISCARD TEMP`), cursors
    /// (`CLOSE ALL`) and statements prepared with SQL `PREPARE` go, the service's own among
    /// them (the driver's prepared statements stay), and so do `LISTEN`s (`UNLISTEN *`) and
    /// session-level advisory locks, the service's own among them too (all but confiture's key
    /// class, the migration lock's). The session is reset once more on first
    /// use, so what the service `SET` before handing it over (a `statement_timeout`, a role) is
    /// gone, as on a fresh connection; what it was opened with (`application_name`, `options`)
    /// stays. The client must be connected to the environment's database (`env` still gives
    /// the ledger table and the settings): one to another database is refused on first use,
    /// in the same round trip as the reset, before anything is read or written through it
    /// (`ErrorKind::Usage`, [`Reason::AnotherDatabase`](crate::Reason::AnotherDatabase), naming
    /// both databases; `into_client` still gives it back). It
    /// must be logged in as the user the environment names: one logged in as another (the
    /// service's `app_rw`, the environment's `migrator`) is refused the same way
    /// (`ErrorKind::Usage`, [`Reason::AnotherUser`](crate::Reason::AnotherUser), naming both
    /// users), rather than run as that user — the migrations would create objects owned by a
    /// role nobody asked for, with its privileges, while every report, error and help line
    /// named the environment's (a `SET ROLE` or `SET SESSION AUTHORIZATION` made before
    /// handing it over does not count: the reset gives the session back to its login user). It
    /// must be outside a transaction: one inside a transaction block (a `BEGIN` left open, or
    /// a failed transaction not rolled back) is refused the same way, before the reset
    /// (`ErrorKind::Usage`, [`Reason::InTransaction`](crate::Reason::InTransaction)), its
    /// transaction left as it was for the caller to `COMMIT` or `ROLLBACK`. For a tenant
    /// schema's environment ([`Target::schema`](crate::fleet::Target::schema)), the connection
    /// must have the tenant's `search_path` as its own (opened with `options=-c
    /// search_path=<schema>`, as the session's own connection is), which the reset before each
    /// migration keeps: one that goes back to another (`"$user", public`) is refused the same
    /// way, before anything runs — the tenant's migrations would build there.
    ///
    /// ```no_run
    /// use confiture::config::Environment;
    /// use confiture::files::CheckOptions;
    /// use confiture::migrate::{no_progress, UpOptions};
    /// use confiture::postgres::{Client, NoTls};
    ///
    /// fn migrate(client: Client, url: &str) -> confiture::Result<Client> {
    ///     let env = Environment::from_url(url, "DATABASE_URL")?;
    ///     let mut migrator = confiture::Migrator::new(env, "db/migrations", CheckOptions::default())
    ///         .with_client(client);
    ///     migrator.up(&UpOptions::default(), &mut no_progress)?;
    ///     Ok(migrator.into_client().expect("the client handed over"))
    /// }
    /// # let _ = (migrate, NoTls);
    /// ```
    pub fn with_client(mut self, client: postgres::Client) -> Migrator {
        self.client = Some(client);
        self.reached = None;
        self.reset_pending = true;
        self.handed_over = true;
        self
    }

    /// Ends the session and gives back its connection: the one handed over with
    /// [`Migrator::with_client`], or the one it opened, its `statement_timeout` the
    /// connection's again (a writing command holds none between its messages). A connection
    /// handed over that no command took over (none ran, or each refused it: another database,
    /// a transaction open) comes back untouched, its transaction as it was. `None` if it never
    /// connected. It may be called on a thread of a tokio runtime (an async fn), as the
    /// commands may; the `postgres::Client` it returns, though, blocks when used **or dropped**,
    /// and on a runtime thread the driver panics ("Cannot start a runtime from within a
    /// runtime"): use and drop it inside `tokio::task::spawn_blocking`.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// migrator.status()?;
    /// let mut client = migrator.into_client().expect("status connected");
    /// client.simple_query("SELECT 1").expect("the connection is open");
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_client(mut self) -> Option<postgres::Client> {
        let mut client = self.client.take()?;
        // A connection handed over that no command took over (none ran, or each was refused:
        // another database, a transaction) is the caller's as it was: its settings, and its
        // open transaction, which a `RESET` would run inside.
        if self.reset_pending {
            return Some(client);
        }
        // A writing command left the session's `statement_timeout` at ours
        // (`db::apply::WRITING_SESSION_BOUND`): the connection's back (ours still for a
        // session that started with it, `connect::Need::own_settings`). A connection that broke
        // is given back as it is. On a runtime thread (an async fn) the driver would panic:
        // the statement runs on a thread of its own there ([`blocking_here`]).
        blocking_here(|| {
            let _ = client.batch_execute("RESET statement_timeout");
        });
        Some(client)
    }

    /// The embedded set this session reads, if it was made by [`Migrator::from_embedded`].
    ///
    /// ```no_run
    /// fn describe(migrator: &confiture::Migrator) -> String {
    ///     match migrator.embedded() {
    ///         Some(set) => format!("{} migrations in the binary", set.migrations.len()),
    ///         None => format!("migrations read from {}", migrator.migrations_dir().display()),
    ///     }
    /// }
    /// ```
    pub fn embedded(&self) -> Option<&'static EmbeddedMigrations> {
        self.embedded
    }

    /// Reads and checks the migrations: the embedded set, else the directory.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// let checked = migrator.load()?;
    /// for d in &checked.diagnostics {
    ///     eprintln!("{d}");
    /// }
    /// println!("{} migrations", checked.set.migrations.len());
    /// # Ok(())
    /// # }
    /// ```
    pub fn load(&self) -> Result<Checked> {
        self.suggested(self.read_checked())
    }

    /// [`Migrator::load`] for the commands, which complete their own errors.
    pub(crate) fn read_checked(&self) -> Result<Checked> {
        if let Some(checked) = &self.preloaded {
            return Ok(Checked::clone(checked));
        }
        match self.embedded {
            Some(embedded) => embedded.load(),
            None => {
                files::load_named_by(&self.migrations_dir, &self.check_options, self.dir_named_by)
            }
        }
    }

    /// A session with this one's database and migrations, not connected: what an `*_async`
    /// command leaves in place of the `Migrator` it moved to a blocking thread.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn detached(&self) -> Migrator {
        Migrator {
            env: self.env.clone(),
            migrations_dir: self.migrations_dir.clone(),
            dir_named_by: self.dir_named_by,
            embedded: self.embedded,
            check_options: self.check_options.clone(),
            client: None,
            reached: None,
            reset_pending: false,
            handed_over: false,
            on_connect: None,
            // The same check: asked once for the session, its answer every copy's.
            before_connect: std::sync::Arc::clone(&self.before_connect),
            preloaded: self.preloaded.clone(),
            on_scratch: self.on_scratch,
            claim: self.claim.clone(),
            in_fleet: self.in_fleet,
            suggest: self.suggest.clone(),
            stop: self.stop.clone(),
            lock_taken: self.lock_taken.clone(),
            second_connection: self.second_connection.clone(),
            waits: None,
            shared_ledgers: std::sync::Arc::clone(&self.shared_ledgers),
        }
    }

    /// Runs `work` where the blocking driver may block. On a thread of a tokio runtime, the
    /// `postgres` driver would panic ("Cannot start a runtime from within a runtime"): `work`
    /// runs on a scoped thread of its own, its progress events are handed back to `progress`
    /// on this thread, and this thread waits. Elsewhere (the CLI, `spawn_blocking`), `work` runs
    /// here.
    ///
    /// Each event is handed over and waited for, as a call: a `progress` that panics stops
    /// `work` at that event — it unwinds from there ([`CallerPanicked`]), exactly as it would
    /// running here — and the caller's own panic is resumed once `work` has unwound, never
    /// after a run that went on without it.
    pub(crate) fn off_runtime<T: Send, E: Send>(
        &mut self,
        progress: &mut dyn FnMut(E),
        work: impl FnOnce(&mut Migrator, &mut dyn FnMut(E)) -> T + Send,
    ) -> T {
        if !on_async_runtime() {
            return work(self, progress);
        }
        let (sender, events) = std::sync::mpsc::channel::<(E, std::sync::mpsc::SyncSender<bool>)>();
        std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                let mut send = |event: E| {
                    // An event sent while unwinding (a drop) is not the caller's to see.
                    if std::thread::panicking() {
                        return;
                    }
                    let (done, handled) = std::sync::mpsc::sync_channel(1);
                    // The receiver lives until the worker is joined.
                    if sender.send((event, done)).is_ok() && handled.recv() != Ok(true) {
                        std::panic::resume_unwind(Box::new(CallerPanicked));
                    }
                };
                work(self, &mut send)
            });
            let mut panicked = None;
            // Ends when the worker drops its sender, that is when `work` returned.
            for (event, done) in events {
                if panicked.is_none() {
                    let call = std::panic::AssertUnwindSafe(|| progress(event));
                    panicked = std::panic::catch_unwind(call).err();
                }
                let _ = done.send(panicked.is_none());
            }
            let joined = worker.join();
            if let Some(payload) = panicked {
                std::panic::resume_unwind(payload);
            }
            joined.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Calls `announce` once, just before this session first reaches the server (to connect,
    /// or to create the database). The CLI prints its `using ...` line there, so that a request
    /// refused before connecting (`--steps 0`, an unknown `--target`, broken files) prints none.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// migrator.on_connect(|env| eprintln!("using {}", env.connection));
    /// migrator.status()?; // prints `using app@localhost:5432/app` first
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_connect(&mut self, announce: impl FnOnce(&Environment) + Send + 'static) {
        self.on_connect = Some(Box::new(announce));
    }

    /// Calls `watch` while a connection of this session waits for a server that does not
    /// accept connections yet ([`Migrator::wait_for_server`]): after the first try that fails
    /// so, then about every [`WaitingForServer::EVERY`](crate::config::WaitingForServer::EVERY)
    /// until the server accepts or the wait has passed (the command's error then says how long
    /// it waited). Without a wait, never called. `watch` is called on whichever thread connects
    /// (`up` and `status` connect on a thread of their own while they read the files). The CLI
    /// prints its `waiting for the server ...` lines there.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@db/app")?
    ///     .wait_for_server(std::time::Duration::from_secs(60));
    /// migrator.on_server_wait(|waiting| {
    ///     eprintln!("waiting for the server ({:?} so far): {}", waiting.waited, waiting.reason)
    /// });
    /// migrator.status()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn on_server_wait(
        &mut self,
        watch: impl Fn(&crate::config::WaitingForServer) + Send + Sync + 'static,
    ) {
        self.env.server_wait_watch =
            Some(crate::config::ServerWaitWatch(std::sync::Arc::new(watch)));
    }

    /// Asks `check` once, when this session is about to reach the server for the first time —
    /// after everything a command decides from its flags and files (`--steps 0`, an unknown
    /// `--target`, broken files), which it refuses first — and fails the command with its
    /// error. A session handed a connection ([`Migrator::with_client`]) asks it before that
    /// connection is first used. A refusal is the session's: every later command of this
    /// `Migrator` is refused with the same error, nothing reached (a new `Migrator` asks
    /// again); so is every command after a check that panicked (never one unchecked), and the
    /// answer is the session's, whichever `*_async` command asked it (a future dropped or a
    /// panic leaves it to the `Migrator` too). What needs a server but must not come before those refusals goes here: the
    /// command line's `--schema NAME` asks the server whether the schema may be a tenant
    /// ([`crate::fleet::one_schema`]), so that a mistake in the command line is its usage
    /// error (exit 64) whether or not the server answers. A session with such a check does
    /// not connect ahead of the files ([`Migrator::on_connect`]'s announcement follows it).
    pub fn before_connecting(
        &mut self,
        check: impl FnOnce(&Environment) -> Result<()> + Send + 'static,
    ) {
        self.before_connect = std::sync::Arc::new(std::sync::Mutex::new(Some(
            BeforeConnect::Check(Box::new(check)),
        )));
    }

    /// How the commands suggested in this session's errors (`help`, `details`, and the
    /// `errors` of its reports) reach its database and migrations. By default they repeat how
    /// the session was made: `--env NAME` ([`Migrator::from_env`]), `-c FILE` (an environment
    /// file), else `--database-url <URL>` (a placeholder: the URL may hold a password), and
    /// `--migrations-dir DIR` when the directory was given ([`Migrator::new`]; the embedded
    /// set's, relative to the workspace root). So `` `cargo confiture migrate status` `` in a
    /// service's log reads `` `cargo confiture migrate status --database-url <URL>
    /// --migrations-dir db/migrations` ``: pasted, it reaches the service's database, not
    /// whatever the shell's directory picks by default.
    ///
    /// [`Invocation::default()`](crate::hint::Invocation) leaves the commands as written, for a
    /// caller that completes them itself (the command line does, with the flags as typed).
    ///
    /// ```no_run
    /// use confiture::hint::Invocation;
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?
    ///     .suggesting(Invocation {
    ///         database: vec!["--env".into(), "prod".into()],
    ///         ..Invocation::default()
    ///     });
    /// # let _ = migrator;
    /// # Ok(())
    /// # }
    /// ```
    pub fn suggesting(mut self, invocation: crate::hint::Invocation) -> Migrator {
        self.suggest = invocation;
        self
    }

    /// Stop `up` and `down` once `flag` is set (a CLI sets it on SIGINT, as for
    /// [`Fleet::stop_when`](crate::fleet::Fleet::stop_when)): no further migration starts, the
    /// statement running on the server is cancelled (a cancel request, TLS as the session's),
    /// and its migration is rolled back as a failed one is — a `no-transaction` one keeps the
    /// statements it committed and gets no ledger row. The command then fails with
    /// [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted) (exit 130), its
    /// [`Reason::Migration`](crate::error::Reason::Migration) naming what committed before.
    /// `baseline` and `reinit` stop the same way: their one transaction is cancelled and
    /// rolled back. A wait for the migration lock, for the connection being made (`status`
    /// too, and its ledger read on that connection), or for a lock another session holds on
    /// the ledger, ends at once; a command the flag reached before it wrote anything fails
    /// with `Interrupted` even when its ledger read completed all the same.
    /// A command that completed although the flag was set (it came as the last transaction
    /// committed, or after) returns its report: what the ledger shows wins.
    /// The library installs no signal handler: the caller owns the process's signals.
    ///
    /// A stop is bounded by [`STOP_WAIT`] (5 s). A cancel request that gets no answer (a
    /// pooler or proxy that accepts and never serves, a TLS negotiation never answered) is
    /// given up, and the run is never held by it. A command that can be stopped runs on a
    /// thread of its own (its progress events still reach `progress` on the caller's thread):
    /// one not ended `STOP_WAIT` after the flag was set — its session stopped answering, a
    /// frozen proxy between us and the server, whose kernel still acknowledges so that no
    /// keepalive fails — returns all the same with
    /// [`ErrorKind::Interrupted`](crate::ErrorKind::Interrupted) ("the server did not answer
    /// the stop within 5 s"), its error and report saying what its progress events said
    /// ([`SoFar`]): the database, what committed, the migration whose fate is unknown (it may
    /// still commit: `status` reads the ledger), the rest not attempted. Its session is left to
    /// that thread, which ends with the connection; this `Migrator` connects again on its next
    /// command.
    ///
    /// Only such a run reports, while a message waits about a second for another session's
    /// lock, who is in the way ([`Progress::LockBlocked`]): a caller that wants that line and
    /// never stops the run gives a flag it never sets.
    ///
    /// ```no_run
    /// use std::sync::{atomic::AtomicBool, Arc};
    /// use confiture::migrate::{no_progress, UpOptions};
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let stop = Arc::new(AtomicBool::new(false));
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?
    ///     .stop_when(stop.clone());
    /// // Elsewhere (a signal handler, a shutdown hook): stop.store(true, Ordering::SeqCst).
    /// migrator.up(&UpOptions::default(), &mut no_progress)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn stop_when(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Migrator {
        self.stop = Some(flag);
        self
    }

    /// Whether the writing command this session runs (`up`, `down`, `baseline`, `reinit`,
    /// `abandon`; stopped from outside, [`Migrator::stop_when`]) has taken its migration lock,
    /// asked from another thread at the instant it needs to know: a signal handler saying what
    /// a stop interrupts. The engine sets it the moment the server grants the lock, before it
    /// reads or writes anything under it, and before [`Progress::LockAcquired`] reaches the
    /// caller — an event handed to the caller's thread, seen later, and not at all by a
    /// caller stuck in its callback. Until then nothing was written, nor will be once the stop
    /// flag is set: the engine sets this, then looks at the flag before each message.
    /// Cleared as the next writing command starts; a dry run never takes the lock.
    pub fn lock_taken(&self) -> LockTaken {
        self.lock_taken.clone()
    }

    /// `result` with the commands its error suggests completed ([`Migrator::suggesting`]),
    /// and naming the database ([`Error::database`]) when it was raised once connected: what
    /// every public command returns through.
    pub(crate) fn suggested<T>(&self, result: Result<T>) -> Result<T> {
        self.suggested_for(result, false)
    }

    /// [`Migrator::suggested`] for a command that was a preview when `dry_run`: a session that
    /// completes its suggestions ([`Migrator::suggesting`]) then suggests previews too
    /// ([`crate::hint::Invocation::dry_run`]), as the command line does for `--dry-run` — a
    /// refused `down` preview's "roll back everything" is a preview, not the rollback itself.
    pub(crate) fn suggested_for<T>(&self, result: Result<T>, dry_run: bool) -> Result<T> {
        result.map_err(|error| {
            let mut error = self.raised_here(error);
            self.with_files_help(&mut error);
            self.with_python_help(&mut error);
            if dry_run && !self.suggest.is_empty() && !self.suggest.dry_run {
                let preview = crate::hint::Invocation {
                    dry_run: true,
                    ..self.suggest.clone()
                };
                preview.complete_error(&mut error);
            } else {
                self.suggest.complete_error(&mut error);
            }
            error
        })
    }

    /// Who named the migrations directory ([`Migrator::migrations_dir_named_by`]): what a
    /// help naming another directory says to change.
    pub fn dir_named_by(&self) -> files::DirNamedBy {
        self.dir_named_by
    }

    /// The help of a ledger row that lacks a value, decided again with the migration files
    /// (the read that refused it does not know them): the row of a migration whose files are
    /// there is completed, never deleted ([`crate::plan::incomplete_row_help`]). Files that
    /// cannot be read leave the read's help, which deletes no row that may be a migration's.
    fn with_files_help(&self, error: &mut Error) {
        let Some(row) = error.incomplete_row() else {
            return;
        };
        if let Ok(checked) = self.read_checked() {
            error.help = Some(crate::plan::incomplete_row_help(row, Some(&checked.set)));
        }
    }

    /// The help of this session's database that does not exist (SQLSTATE 3D000, naming it),
    /// decided again with the migration files (the connection that failed does not know
    /// them): with a confiture (Python) migration among them, "create it (`migrate up
    /// --create-database` does ...)" was not true — that `up` refuses before creating anything,
    /// since it cannot run the `.py` file. The help creates the database with `createdb` and
    /// applies the migrations with confiture (Python), which runs both kinds; or those before
    /// the first `.py` with `migrate up --create-database --target V`.
    fn with_python_help(&self, error: &mut Error) {
        let missing = error.sqlstate()
            == Some(postgres::error::SqlState::INVALID_CATALOG_NAME.code())
            && error.database() == Some(self.env.connection.to_string().as_str());
        if !missing {
            return;
        }
        let Ok(checked) = self.read_checked() else {
            return;
        };
        let Some(first) = checked.set.python.first() else {
            return;
        };
        let shown = crate::display::escape(&crate::display::file_name(&first.path)).into_owned();
        let before = checked
            .set
            .migrations
            .iter()
            .rfind(|m| m.version < first.version)
            .map(|m| {
                format!(
                    "; or apply with {} the migrations before it",
                    crate::hint::command(&format!(
                        "migrate up --create-database --target {}",
                        m.version_text
                    ))
                )
            })
            .unwrap_or_default();
        error.help = Some(format!(
            "{}create it ({}) and apply the migrations with confiture (Python) (`confiture migrate \
             up`), which runs `{shown}` too: cargo confiture cannot run a confiture (Python) \
             migration, and `migrate up --create-database` refuses while one is pending{before}; \
             or fix the database name in {}",
            crate::db::connect::close_database_first(&self.env),
            crate::db::connect::createdb(&self.env.connection),
            self.env.database_name_source()
        ));
    }

    /// `error` naming this migrator's database ([`Error::database`]) when it was raised once
    /// connected to it, and its tenant schema ([`Error::schema`]) for a tenant's session.
    pub(crate) fn raised_here(&self, error: Error) -> Error {
        let error = match &self.env.migration.tenant_schema {
            Some(schema) => error.in_schema(schema),
            None => error,
        }
        .with_database_from(self.env.database_from());
        match self.client {
            Some(_) => error.in_database(self.env.connection.to_string()),
            None => error,
        }
    }

    /// Asks the [`Migrator::before_connecting`] check, then runs the [`Migrator::on_connect`]
    /// callback, the first time only; the check's refusal is the command's error, and every
    /// later command's.
    pub(crate) fn announce_connect(&mut self) -> Result<()> {
        self.ask_before_connecting()?;
        if let Some(announce) = self.on_connect.take() {
            announce(&self.env);
        }
        Ok(())
    }

    /// The [`Migrator::before_connecting`] check, asked the first time only: before a session
    /// of its own connects ([`Migrator::announce_connect`]), or before one handed over is
    /// taken over ([`Migrator::with_client`]). Its refusal is kept: every later command's.
    fn ask_before_connecting(&mut self) -> Result<()> {
        let state = std::sync::Arc::clone(&self.before_connect);
        let lock = || {
            state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let mut held = lock();
        match held.take() {
            Some(BeforeConnect::Check(check)) => {
                // Refused until the check answers: a check that panics (and a caller that
                // catches it and tries again) never lets a command run unchecked.
                *held = Some(BeforeConnect::Asking);
                drop(held);
                let asked = check(&self.env);
                *lock() =
                    (asked.as_ref().err()).map(|refused| BeforeConnect::Refused(refused.clone()));
                asked?;
            }
            Some(BeforeConnect::Asking) => {
                *held = Some(BeforeConnect::Asking);
                return Err(Error::usage(
                    "this session's `Migrator::before_connecting` check has not answered: it \
                     panicked in an earlier command, or that command is still asking it; \
                     nothing was reached",
                )
                .with_help("make a new `Migrator` with a check that answers"));
            }
            Some(BeforeConnect::Refused(refused)) => {
                *held = Some(BeforeConnect::Refused(refused.clone()));
                return Err(refused);
            }
            None => {}
        }
        Ok(())
    }

    /// A session for the database a URL (or libpq conninfo) names, with the migrations of the
    /// workspace around the current directory.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@localhost:5432/app")?;
    /// let report = migrator.status()?;
    /// println!("pending: {:?}", report.pending);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_url(url: &str) -> Result<Migrator> {
        let given_to = format!("given to {}", config::Labels::LIBRARY.url);
        let env = Environment::from_url_in(url, "the database URL", &given_to)?;
        let ws = Workspace::discover(&current_dir()?)?;
        Ok(Migrator::for_workspace(env, &ws))
    }

    /// A session for the environment file at `path` (like `-c FILE`), with the migrations
    /// `-c FILE` reads ([`Workspace::of_environment_file`]): those of the Cargo project that
    /// holds the file, or, for a file outside any, of the current directory's project (the
    /// current directory itself outside any). `${VAR}` is expanded from the process
    /// environment, and a `CONFITURE_DATABASE_URL` naming another database is an error.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_config("db/environments/prod.yaml")?;
    /// println!("{}", migrator.environment().connection);
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_config(path: impl AsRef<Path>) -> Result<Migrator> {
        let path = path.as_ref();
        // A path that is not there (or a connection string given as one) is the reader of
        // environment files' to say, as it says it for `-c`: one wording, one help.
        let ws = Workspace::of_environment_file(path, &current_dir()?)?;
        let env = config::resolve(
            &ws,
            &Selection::File(path.to_path_buf()),
            &config::process_vars,
        )?;
        Ok(Migrator::for_workspace(env, &ws))
    }

    /// A session for the environment `name` of the workspace (like `--env NAME`).
    ///
    /// ```no_run
    /// use confiture::workspace::Workspace;
    ///
    /// # fn main() -> confiture::Result<()> {
    /// let ws = Workspace::discover(&std::env::current_dir().unwrap())?;
    /// let mut migrator = confiture::Migrator::from_env(&ws, "staging")?;
    /// std::process::exit(migrator.status()?.exit_code().into());
    /// # }
    /// ```
    pub fn from_env(ws: &Workspace, name: &str) -> Result<Migrator> {
        let env = config::resolve(ws, &Selection::Env(name.to_string()), &config::process_vars)?;
        let mut migrator = Migrator::for_workspace(env, ws);
        migrator.suggest.database = vec!["--env".to_string(), name.to_string()];
        Ok(migrator)
    }

    fn for_workspace(env: Environment, ws: &Workspace) -> Migrator {
        let options = CheckOptions::default()
            .first_version(ws.settings.first_version)
            .first_version_from(ws.settings.first_version_from);
        let mut migrator = Migrator::new(env, ws.migrations_dir(), options)
            .migrations_dir_named_by(files::DirNamedBy::Workspace);
        // The workspace's own directory: a command run in the workspace finds it by itself.
        migrator.suggest.files.clear();
        migrator
    }

    /// The resolved environment: which database, with which settings.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let migrator = confiture::Migrator::from_url("postgresql://app:secret@localhost/app")?;
    /// // `Display` never shows the password.
    /// assert_eq!(migrator.environment().connection.to_string(), "app@localhost:5432/app");
    /// # Ok(())
    /// # }
    /// ```
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// Waits up to `wait` for a server that is not accepting connections yet whenever this
    /// session connects (`migration.wait_for_server`, the CLI's `--wait-for-server`; see
    /// [`MigrationSettings::wait_for_server`](crate::config::MigrationSettings::wait_for_server)):
    /// what a service started beside its database (a container, a CI service) sets before
    /// applying its migrations. A server that answers with a refusal is never waited out.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let mut migrator = confiture::Migrator::from_url("postgresql://app@db:5432/app")?
    ///     .wait_for_server(std::time::Duration::from_secs(60));
    /// migrator.up(&confiture::migrate::UpOptions::default(), &mut confiture::migrate::no_progress)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn wait_for_server(mut self, wait: std::time::Duration) -> Migrator {
        self.env.wait_for_server_option(wait);
        self
    }

    /// The migrations directory this session reads.
    ///
    /// ```no_run
    /// # fn main() -> confiture::Result<()> {
    /// let migrator = confiture::Migrator::from_url("postgresql://app@localhost/app")?;
    /// println!("reading {}", migrator.migrations_dir().display());
    /// # Ok(())
    /// # }
    /// ```
    pub fn migrations_dir(&self) -> &Path {
        &self.migrations_dir
    }

    /// Who named the migrations directory, for what an error about it (missing, a file in its
    /// place) says to change besides `migrations_dir` in Cargo.toml: by default
    /// [`DirNamedBy::Library`](files::DirNamedBy::Library), the directory the program gives
    /// [`Migrator::new`] (a relative one read from the current directory, which its errors
    /// name), or [`DirNamedBy::Workspace`](files::DirNamedBy::Workspace) for a session of a
    /// workspace ([`Migrator::from_url`], [`Migrator::from_config`], [`Migrator::from_env`]:
    /// Cargo.toml's `migrations_dir`); the command line says
    /// [`DirNamedBy::Command`](files::DirNamedBy::Command), its `--migrations-dir` flag. A [`Fleet::for_migrator`](crate::fleet::Fleet::for_migrator)
    /// keeps it.
    pub fn migrations_dir_named_by(mut self, named_by: files::DirNamedBy) -> Migrator {
        self.dir_named_by = named_by;
        self
    }

    /// The migrations of other workspace members whose environments resolve to this session's
    /// database and tracking table (the command line gives them, from the workspace's
    /// members): rows their files record are theirs ([`crate::plan::of_another_member`]), which
    /// `up`'s and `down`'s refusals and `status` say instead of suggesting `reinit` or
    /// `--allow-modified`, and which `reinit`, `baseline` and `down` refuse to write over
    /// (exit 7); a fleet of this session
    /// ([`crate::fleet::Fleet::for_migrator`]) tells them apart in each target's ledger.
    pub fn sharing_ledger_with(mut self, others: Vec<crate::plan::SharedLedger>) -> Migrator {
        self.shared_ledgers = std::sync::Arc::new(others);
        self
    }

    /// Runs `work` (reading and checking the files) while another thread connects, when this
    /// session is not connected yet ([`crate::db::prefetch`]). `work`'s refusal comes first and
    /// alone, as if nothing had connected; once it has passed, the connection is announced
    /// and taken, or its error returned.
    pub(crate) fn while_connecting<T>(
        &mut self,
        work: impl FnOnce(&Migrator) -> Result<T>,
    ) -> Result<T> {
        let need = crate::db::connect::Need::Read;
        Ok(self.while_connecting_then(work, need, |_, _| Ok(()))?.0)
    }

    /// [`Migrator::while_connecting`], and `then` run on the new session by the connecting
    /// thread, also while `work` runs: a read-only query, or work that leaves nothing
    /// committed (`db::prefetch`'s rules). `then`'s result is `None` when this session was
    /// already connected or no thread could be started: the caller then does that work
    /// itself. `then`'s error comes only after `work` has passed, and the connection is kept
    /// whatever `then` returned.
    pub(crate) fn while_connecting_then<T, U: Send + 'static>(
        &mut self,
        work: impl FnOnce(&Migrator) -> Result<T>,
        need: crate::db::connect::Need,
        then: impl FnOnce(&mut crate::db::connect::Session, &crate::db::prefetch::Wanted) -> Result<U>
            + Send
            + 'static,
    ) -> Result<(T, Option<U>)> {
        self.off_runtime(&mut |_: ()| {}, |m, _| m.forget_lost_connection(Probe::Ask));
        // A fleet target's claim comes first on the new session: a database another target
        // reached is refused before `then` touches it.
        let claim = self.claim.clone();
        let then = move |session: &mut crate::db::connect::Session,
                         wanted: &crate::db::prefetch::Wanted| {
            if let Some(claim) = &claim {
                claim.take(&mut session.client)?;
            }
            then(session, wanted)
        };
        // A check before connecting ([`Migrator::before_connecting`]) comes before any
        // session: none is opened ahead of it.
        let checked = (self.before_connect.lock())
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none();
        let ahead = match (&self.client, checked) {
            (None, true) => crate::db::prefetch::Ahead::start_then(&self.env, need, then),
            _ => None,
        };
        let value = work(self)?;
        let Some(ahead) = ahead else {
            return Ok((value, None));
        };
        self.announce_connect()?;
        // Once connected, what the thread waits on is the tracking table (`status` reads it,
        // `up` reads it under the migration lock): a lock another session holds on it.
        let table = self.env.migration.tracking_table.clone();
        // `up` and `status`, which run migrations or nothing.
        let effect = crate::plan::Effect::Runs;
        let (session, then) = ahead.wait_unless(self.stop.as_deref(), effect, || {
            crate::db::ledger::interrupted_read(&table)
        })?;
        self.set_session(session);
        Ok((value, Some(then?)))
    }

    /// Keeps a connection this session opened, with the address it was dialled at.
    pub(crate) fn set_session(&mut self, session: crate::db::connect::Session) {
        self.client = Some(session.client);
        self.reached = Some(session.reached);
    }

    /// [`Migrator::set_session`] of a session just opened (nothing run on it yet), once a fleet
    /// target's claim ([`Migrator::claim`]) has taken its database: refused, and closed, when
    /// another target of the fleet reached that database first.
    pub(crate) fn set_new_session(
        &mut self,
        mut session: crate::db::connect::Session,
    ) -> Result<()> {
        if let Some(claim) = &self.claim {
            claim.take(&mut session.client)?;
        }
        self.set_session(session);
        Ok(())
    }

    /// The connection, opened on first use, and what a writing command (`effect`: what it does
    /// with its migrations, which its refusals say it did not do) checks it against
    /// (`writable::check`). Probed once ([`Migrator::client`]): asking the server again right
    /// after cost every writing command a round trip.
    pub(crate) fn client_for_writing(
        &mut self,
        effect: crate::plan::Effect,
        need: crate::db::connect::Need,
    ) -> Result<(&mut postgres::Client, crate::db::writable::Target)> {
        crate::db::writable::refuse_reading_session(&self.env, effect)?;
        // A session this Migrator opened to read (a command before this one) may be on a
        // host that cannot write: opened again for writing, on the host that can; one that
        // started with other settings than `need`'s, opened again with them.
        if !self.handed_over && (self.reached.as_ref()).is_some_and(|r| !r.serves(&self.env, need))
        {
            self.close_own_session();
        }
        // Checked once (`client_for`), then handed out without a second check.
        self.client_for(need, effect)?;
        let mut target = crate::db::writable::Target::reached(&self.env, self.reached.as_ref());
        target.second_connection = self.second_connection.clone();
        target.effect = effect;
        match &mut self.client {
            Some(client) => Ok((client, target)),
            None => Err(Error::connection("not connected")),
        }
    }

    /// Drops the held connection when it is gone (the server restarted, the backend was
    /// terminated, the network failed), so that the next use connects again: the one rule for
    /// a `Migrator` kept across commands, its own connection and a handed-over one alike.
    /// `Probe::Ask` also asks the server (an empty query): a connection the server closed
    /// while nothing used it does not know yet that it is closed. The dropped session held
    /// nothing of ours: the server released its locks and rolled back its transaction.
    pub(crate) fn forget_lost_connection(&mut self, probe: Probe) {
        let Some(client) = &mut self.client else {
            return;
        };
        let timeout =
            (self.env.connection.connect_timeout).map_or(PROBE_TIMEOUT, |t| t.max(PROBE_TIMEOUT));
        let lost = client.is_closed() || (probe == Probe::Ask && client.is_valid(timeout).is_err());
        if lost {
            self.client = None;
            self.reached = None;
            // A new session starts in its connection-time state: nothing to reset.
            self.reset_pending = false;
            // The next one is this session's own.
            self.handed_over = false;
        }
    }

    /// Closes the connection this session opened, if it holds one, so that a command holds no
    /// more connections than it needs (`drift`, once it has read the live database); the next
    /// use opens another. A connection handed over ([`Migrator::with_client`]) stays open:
    /// it is the caller's.
    pub(crate) fn close_own_session(&mut self) {
        if !self.handed_over {
            self.client = None;
            self.reached = None;
        }
    }

    /// The connection, opened on first use, or again when the held one was lost.
    pub(crate) fn client(&mut self) -> Result<&mut postgres::Client> {
        self.client_for(crate::db::connect::Need::Read, crate::plan::Effect::Runs)
    }

    /// [`Migrator::client`], with the host it reached and what it was opened for (`None` for
    /// a connection handed over): what `status` checks its startup options by.
    pub(crate) fn client_reached(
        &mut self,
    ) -> Result<(&mut postgres::Client, Option<crate::db::connect::Reached>)> {
        self.client()?;
        match &mut self.client {
            Some(client) => Ok((client, self.reached.clone())),
            None => Err(Error::connection("not connected")),
        }
    }

    /// [`Migrator::client`], a new one opened on the host `need` asks for; a stop while it
    /// connects, or a connection handed over that is refused, says what the command (`effect`)
    /// did not do.
    pub(crate) fn client_for(
        &mut self,
        need: crate::db::connect::Need,
        effect: crate::plan::Effect,
    ) -> Result<&mut postgres::Client> {
        self.forget_lost_connection(Probe::Ask);
        if self.client.is_none() {
            self.announce_connect()?;
            // A run that can be stopped ([`Migrator::stop_when`]) connects on a thread, so
            // that the stop ends the wait at once, not after `connect_timeout`.
            let ahead = self.stop.as_ref().and_then(|_| {
                crate::db::prefetch::Ahead::start_then(&self.env, need, |_, _| Ok(()))
            });
            let session = match ahead {
                // `then` does nothing: a stop once connected is a stop as it connected.
                Some(ahead) => {
                    ahead
                        .wait_unless(self.stop.as_deref(), effect, || {
                            crate::db::prefetch::interrupted_connecting(effect)
                        })?
                        .0
                }
                None => crate::db::connect::open_session(&self.env, need)?,
            };
            self.set_new_session(session)?;
        }
        if self.reset_pending {
            // What would be asked before connecting is asked before a connection handed over
            // is used, as before one of its own.
            self.ask_before_connecting()?;
        }
        match &mut self.client {
            Some(client) => {
                if self.reset_pending {
                    // Refused (another database) stays pending: every command is refused.
                    crate::db::connect::adopt_handed_over(client, &self.env, effect)?;
                    self.reset_pending = false;
                }
                Ok(client)
            }
            None => Err(Error::connection("not connected")),
        }
    }
}

/// Whether [`Migrator::forget_lost_connection`] asks the server, or only looks at what the
/// driver already knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The driver saw the connection close (after a failed command): no round trip.
    Known,
    /// An empty query asks the server whether the session is still there.
    Ask,
}

/// How long the liveness probe waits for the server at least (the environment's
/// `connect_timeout` when longer): a server that does not answer an empty query in that time
/// is treated as gone, and the next use connects again.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How a worker of [`Migrator::off_runtime`] unwinds when the caller's progress callback
/// panicked: the caller resumes its own panic instead.
struct CallerPanicked;

/// Runs `work`, which blocks on the `postgres` driver, where the driver may block: here, or,
/// on a thread of a tokio runtime (where it would panic "Cannot start a runtime from within a
/// runtime"), on a scoped thread of its own while this one waits. For what talks to the
/// server outside a command ([`Migrator::off_runtime`] is the commands'): `into_client`, the
/// fleet's list queries.
pub(crate) fn blocking_here<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if !on_async_runtime() {
        return work();
    }
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Whether this thread is inside a tokio runtime: a worker or `block_on` thread, where the
/// `postgres` driver's own runtime panics, or a `spawn_blocking` thread, where it would not
/// (tokio offers no way to tell them apart; the second pays for one thread it did not need).
pub(crate) fn on_async_runtime() -> bool {
    !ON_BLOCKING_THREAD.get() && tokio::runtime::Handle::try_current().is_ok()
}

thread_local! {
    /// Set by the `*_async` commands on the `spawn_blocking` thread they run on, where
    /// blocking is allowed: no extra thread there. Only through [`BlockingThread::enter`].
    static ON_BLOCKING_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// This thread marked as a `spawn_blocking` thread ([`on_async_runtime`] is `false` there) for
/// as long as the value lives: the mark ends with it, however the work ends — a command
/// unwinding from a panicking progress callback too. tokio reuses its blocking threads, as
/// runtime workers too (a `block_in_place` hands the worker's core to an idle one): a mark
/// left behind made the blocking commands there run the driver in place, which panicked.
#[cfg(feature = "tokio")]
pub(crate) struct BlockingThread {
    was: bool,
}

#[cfg(feature = "tokio")]
impl BlockingThread {
    /// Marks this thread until the value is dropped.
    pub(crate) fn enter() -> BlockingThread {
        BlockingThread {
            was: ON_BLOCKING_THREAD.replace(true),
        }
    }
}

#[cfg(feature = "tokio")]
impl Drop for BlockingThread {
    fn drop(&mut self) {
        ON_BLOCKING_THREAD.set(self.was);
    }
}

impl Drop for Migrator {
    /// Closing the `postgres` driver's connection blocks on its runtime, which panics on a
    /// runtime thread (and aborts if that thread is already unwinding): there, the connection
    /// is closed on a thread of its own.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if on_async_runtime() {
                let closer = std::thread::spawn(move || drop(client));
                let _ = closer.join();
            }
        }
    }
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::invalid("cannot read the current directory").with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

    #[test]
    fn connects_lazily_and_once() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("cft_migrator_{}_{nanos}", std::process::id());
        let mut admin = postgres::Client::connect(ADMIN, postgres::NoTls)
            .unwrap_or_else(|e| panic!("this test needs PostgreSQL at `{ADMIN}`: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        struct Drop_(String);
        impl Drop for Drop_ {
            fn drop(&mut self) {
                if let Ok(mut admin) = postgres::Client::connect(ADMIN, postgres::NoTls) {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
                }
            }
        }
        let _guard = Drop_(name.clone());

        let url = format!("postgresql://postgres@127.0.0.1:5432/{name}?sslmode=disable");
        let env = Environment::from_url(&url, "test").unwrap();
        let mut migrator = Migrator::new(env, "db/migrations", CheckOptions::default());
        assert!(migrator.client.is_none(), "new() does not connect");
        let pid = |m: &mut Migrator| -> i32 {
            m.client()
                .unwrap()
                .query_one("SELECT pg_backend_pid()", &[])
                .unwrap()
                .get(0)
        };
        let first = pid(&mut migrator);
        assert_eq!(pid(&mut migrator), first, "the connection is reused");
    }

    #[test]
    fn a_failed_connect_is_reported_and_retried_next_time() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgresql://postgres@127.0.0.1:{port}/x?sslmode=disable");
        let mut migrator = Migrator::new(
            Environment::from_url(&url, "test").unwrap(),
            "m",
            CheckOptions::default(),
        );
        assert_eq!(
            migrator.client().err().map(|e| e.kind),
            Some(crate::ErrorKind::Connection)
        );
        assert!(migrator.client.is_none());
    }
}
