//! Scratch databases: created with a unique name for `verify` and `drift` to replay migrations
//! on, and always dropped — when the [`Scratch`] is dropped (normal end, error, panic), and by
//! [`drop_all`] when the process is interrupted (the CLI calls it from its SIGINT/SIGTERM
//! handler; a library never installs signal handlers of its own).
//!
//! Every scratch database of the process is recorded in one registry. Creating and dropping
//! hold the registry's lock for the whole `CREATE DATABASE` / `DROP DATABASE` (not while
//! connecting to create: [`drop_all`] never waits for a server that does not answer), so that
//! [`drop_all`], which takes the same lock, never runs between a database's creation and its
//! registration, nor lets the process exit halfway through a drop. After [`drop_all`] no new
//! scratch database can be created.
//!
//! A scratch database is written by the run that made it, whatever guards its target:
//! `default_transaction_read_only` (for the target database, the role in it, the role or the
//! server) is turned off for the session that creates and drops it (`maintenance_client`),
//! and for the connecting role in the scratch database itself (`READ_ONLY_SETTING`, before any
//! session opens there, over a role-wide setting). The target's own setting is not copied to
//! it (`db::settings`): it says the target must not be written, which verify and drift never
//! do.
//!
//! A connection whose options set the session's role (`options=-c role=owner`) runs the
//! migrations as that role, which must then own the scratch database, as it may own its
//! target: the database is created by that role when it may create databases, else by the
//! login role `OWNER` it (`Creator`); the settings a session there starts with are the login
//! role's, which that role sets (`SET ROLE NONE`), and it also drops the database when the
//! sessions left there are its own (an interrupted run). Neither role may create databases:
//! an error naming both.
//!
//! A process killed with SIGKILL cannot clean up: its databases keep their names,
//! `confiture_scratch_<pid>_<n>_<nanos>`, so that they can be found and dropped by hand.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Environment;
use crate::db::settings::Locale;
use crate::error::{Error, Result};
use crate::migrator::blocking_here;

/// The start of every scratch database's name.
pub const PREFIX: &str = "confiture_scratch_";

/// The setting that makes every transaction of a session read only unless it says otherwise:
/// off for the sessions that create, drop and work in a scratch database (see the module's
/// documentation), and never copied to one from its target (`db::settings`).
pub(crate) const READ_ONLY_SETTING: &str = "default_transaction_read_only";

/// How a scratch database is created without its target's encoding and locale: from
/// `template0`, never `template1`, whose objects (a DBA's extension or table) no migration made.
const PLAIN: &str = "TEMPLATE template0";

/// Who creates a scratch database, on a maintenance session whose role the connection's
/// options may have set (`options=-c role=owner`): the role the migrations then run as, which
/// must own the database to work in it as they do on the target.
enum Creator {
    /// The session's role: it may create databases (or is the login role).
    Session,
    /// The login role (`SET ROLE NONE`), for the session's role `owner`, which may not:
    /// `CREATE DATABASE ... OWNER owner`, as the login role may for a role it can become.
    LoginRole { owner: String },
}

impl Creator {
    /// Which role may create the scratch database on `client`'s session; when the session's
    /// role differs from the login role and neither may, the error naming both (the server
    /// would name neither).
    fn of(client: &mut postgres::Client, server: &Environment) -> Result<Creator> {
        const ROLES: &str = "SELECT CURRENT_USER::pg_catalog.text, SESSION_USER::pg_catalog.text, \
             (SELECT r.rolcreatedb OR r.rolsuper FROM pg_catalog.pg_roles r \
              WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER), \
             (SELECT r.rolcreatedb OR r.rolsuper FROM pg_catalog.pg_roles r \
              WHERE r.rolname OPERATOR(pg_catalog.=) SESSION_USER)";
        let row = crate::db::own_read(client, |tx| tx.query_one(ROLES, &[])).map_err(|e| {
            let what = format!(
                "cannot read the roles of a session on {}",
                server.connection
            );
            crate::db::query_error(&what, e)
        })?;
        let (current, session): (String, String) = (row.get(0), row.get(1));
        let may = |i| row.get::<_, Option<bool>>(i).unwrap_or(false);
        if current == session || may(2) {
            return Ok(Creator::Session);
        }
        if !may(3) {
            return Err(neither_may_create(server, &current, &session));
        }
        client.batch_execute("SET ROLE NONE").map_err(|e| {
            let what = format!("cannot prepare a session on {}", server.connection);
            crate::db::query_error(&what, e)
        })?;
        Ok(Creator::LoginRole { owner: current })
    }
}

/// The databases a connection to the server is tried in, after the one the server URL names:
/// `CREATE DATABASE` may be run from any database, as `createdb` does.
const MAINTENANCE_DATABASES: [&str; 2] = ["postgres", "template1"];

struct Registry {
    /// Set by [`drop_all`]: the process is going away, nothing new is created.
    closing: bool,
    /// `(server, name)` of every scratch database created and not yet dropped.
    live: Vec<(Environment, String)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    closing: false,
    live: Vec::new(),
});

/// What [`drop_all`] (or a run dropping its own, [`drop_tracked`]) has still to drop:
/// `(server, name)`, readable while it drops (the registry's lock is then held), by
/// [`being_dropped`].
static DROPPING: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

fn dropping() -> std::sync::MutexGuard<'static, Vec<(String, String)>> {
    DROPPING.lock().unwrap_or_else(|p| p.into_inner())
}

/// The scratch databases [`drop_all`] has not dropped yet, while it runs (a second signal
/// that ends the process before it is done: these are left behind): the server each is on
/// (`user@host:port/db`, never the password) and its name.
pub fn being_dropped() -> Vec<(String, String)> {
    dropping().clone()
}

/// The statement that drops scratch database `name`, for a person to run.
pub fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", quoted(name))
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves the registry consistent (entries are pushed or
    // removed whole), so a poisoned lock is still usable.
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

/// A database created for one run and dropped when this value is dropped.
#[derive(Debug)]
pub struct Scratch {
    /// The server (and credentials) it was created with.
    server: Environment,
    /// The same, naming the scratch database: what to connect and migrate with.
    env: Environment,
    dropped: bool,
    /// The key of its server's [`ServerRun`] (the run's baseline of server-wide objects).
    server_key: String,
}

impl Scratch {
    /// Creates a database with a unique name on `server`'s server, connecting with `server`'s
    /// credentials to its database, else to `postgres`, else `template1`. A role that may not
    /// create databases gets an error saying so (exit 3), whose help names `--scratch-url`.
    /// It is made from `template0` (what a DBA put in `template1` is made by no migration).
    pub fn create(server: &Environment) -> Result<Scratch> {
        blocking_here(|| Scratch::create_like(server, None)).map(|(scratch, _)| scratch)
    }

    /// [`Scratch::create`], with `locale`'s encoding and locale (its target's): then also the
    /// server's refusal of them (a locale it does not have, a provider it does not know), with
    /// which the database was created as [`Scratch::create`] makes it.
    pub(crate) fn create_like(
        server: &Environment,
        locale: Option<&Locale>,
    ) -> Result<(Scratch, Option<String>)> {
        let name = unique_name();
        // Connected before the registry is locked: a server that does not answer would hold
        // `drop_all` (the signal handler) for the whole connect timeout.
        let (mut client, reached) = maintenance_client(server)?;
        // The host of the list it is created on, which can write: the migrations run there,
        // and the database is dropped there.
        let mut server = server.clone();
        server.connection = reached.spec(&server.connection);
        // That host is the scratch server now, whatever `target_session_attrs` asked of the
        // target's sessions (`standby` for `drift`'s read of the live database).
        server.connection.target_session_attrs = crate::config::TargetSessionAttrs::Any;
        let server = &server;
        let mut env = server.clone();
        env.connection.dbname = name.clone();
        let creator = Creator::of(&mut client, server)?;
        let mut registry = registry();
        if registry.closing {
            return Err(Error::connection(
                "not creating a scratch database: the process is being interrupted",
            ));
        }
        let owner = match &creator {
            Creator::Session => String::new(),
            Creator::LoginRole { owner } => format!(" OWNER {}", quoted(owner)),
        };
        let mut create = |options: &str| {
            let sql = format!("CREATE DATABASE {} {options}{owner}", quoted(&name));
            client.batch_execute(&sql)
        };
        let mut refused = None;
        let created = match locale {
            Some(locale) => match create(&locale.create_options()) {
                Err(e) if !crate::db::is_connection_lost(&e) => {
                    refused = Some(crate::db::cause_text(&e));
                    create(PLAIN)
                }
                other => other,
            },
            None => create(PLAIN),
        };
        if let Err(e) = created {
            return Err(create_error(server, &env, e));
        }
        registry.live.push((server.clone(), name.clone()));
        // What is server-wide there before any migration runs (the first scratch database of
        // this process on that server reads it; the others share it).
        let server_key = server_key(server);
        let entered = enter(&mut client, server, &server_key);
        // For the connecting role in that database: over its `ALTER ROLE ... SET` and the
        // server's, which a database's own setting would not be. Before any session opens
        // there; a failure drops the database with the `Scratch`. As the login role: a
        // session starts with its settings, which only it (or a CREATEROLE role) may change,
        // whatever role the connection's options make the session's.
        let writable = client.batch_execute(&format!(
            "SET ROLE NONE; ALTER ROLE SESSION_USER IN DATABASE {} SET {READ_ONLY_SETTING} = off",
            quoted(&name)
        ));
        let scratch = Scratch {
            server: server.clone(),
            env,
            dropped: false,
            server_key: if entered.is_ok() {
                server_key
            } else {
                String::new()
            },
        };
        drop(registry);
        if let Err(e) = entered {
            let what = format!(
                "cannot read the roles, tablespaces and databases of the server of {}",
                server.connection
            );
            return Err(crate::verify::raised_on(
                scratch.environment(),
                crate::db::query_error(&what, e),
            ));
        }
        if let Err(e) = writable {
            let what = format!(
                "cannot make the scratch database \"{name}\" writable on the server of {}",
                server.connection
            );
            return Err(crate::verify::raised_on(
                scratch.environment(),
                crate::db::query_error(&what, e),
            ));
        }
        Ok((scratch, refused))
    }

    /// `error`, from connecting to this scratch database, said as what it most likely is when
    /// the server answered that no such database exists (`3D000`, or PgBouncer's `08P01`)
    /// just after creating it: something in front of the server — a pooler, which serves only
    /// the databases it is configured for, or a proxy that routes by name — cannot reach a
    /// database whose name is random. Other errors are returned as they are.
    pub(crate) fn unreachable(&self, error: Error) -> Error {
        if error.kind != crate::ErrorKind::Connection
            || !matches!(error.sqlstate(), Some("3D000" | "08P01"))
        {
            return error;
        }
        let mut unreachable = Error::connection(format!(
            "cannot connect to the scratch database \"{}\" just created on the server of {}, \
             through the same host and port: {}",
            self.name(),
            self.server.connection,
            error.message_with_cause()
        ))
        .with_detail(
            "a pooler (PgBouncer, ...) or proxy in front of the server serves only the databases \
             it is configured for, and a scratch database's name is random",
        )
        .with_help(format!(
            "give {} with a direct connection to the server (not through the pooler), or to a \
             local PostgreSQL of the same major version",
            "`--scratch-url URL`"
        ));
        unreachable.set_source(error);
        unreachable
    }

    /// The server it is on, as `user@host:port/db` naming the database it was created from.
    pub(crate) fn server_connection(&self) -> String {
        self.server.connection.to_string()
    }

    /// The scratch database's name.
    pub fn name(&self) -> &str {
        &self.env.connection.dbname
    }

    /// An environment naming the scratch database, with the server environment's settings
    /// (tracking table, timeouts).
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// [`Scratch::drop_now`] at the end of a run, unless the run was `stopped` from outside
    /// and the process drops every scratch database itself once the run has reported
    /// ([`leave_stopped_runs_to_drop_all`]): then the database stays registered, for
    /// [`drop_all`], and the run returns its report at once. `DROP DATABASE` waits for a
    /// checkpoint and for every session of the server to take in a signal barrier, 30 to 90 s
    /// on a loaded server: a stopped run's report must not wait for it (the CLI's signal
    /// thread waits for that report a few seconds only).
    pub(crate) fn close(mut self, stopped: bool) -> Result<Vec<String>> {
        if stopped && LEFT_TO_DROP_ALL.load(Ordering::SeqCst) {
            // Still in the registry: `drop_all` drops it, and puts back what is server-wide.
            self.dropped = true;
            return Ok(Vec::new());
        }
        self.drop_now()
    }

    /// Drops the database now, reporting a failure (dropping `self` does the same silently).
    /// The last scratch database of this process on its server then puts back what is
    /// server-wide there (the roles and tablespaces the migrations replayed created): what it
    /// could not, each a sentence naming the object and what to do, is returned.
    pub fn drop_now(self) -> Result<Vec<String>> {
        blocking_here(move || self.drop_here())
    }

    /// [`Scratch::drop_now`], on this thread.
    fn drop_here(mut self) -> Result<Vec<String>> {
        self.dropped = true;
        // Held for the drop, connecting included: `drop_all` (a signal's) waits for it rather
        // than let the process exit in the middle of it, the database no longer registered
        // (a second signal names it: `being_dropped`).
        let mut registry = registry();
        let name = self.env.connection.dbname.clone();
        let before = registry.live.len();
        registry.live.retain(|(_, n)| *n != name);
        if registry.live.len() == before {
            // Already dropped by `drop_all`.
            return Ok(Vec::new());
        }
        drop_tracked(&self.server, &name)
            .or_else(|e| match e.kind {
                // The server went away under the run (a restart, a shutdown, a session
                // ended): a new session, once it accepts connections again.
                crate::ErrorKind::Connection => drop_tracked(&back_again(&self.server), &name),
                _ => Err(e),
            })
            .map_err(|e| left_behind(e, &self.server, &name))?;
        drop(registry);
        match leave(&self.server_key) {
            Some(run) => restore_server(&run),
            None => Ok(Vec::new()),
        }
    }

    /// Whether the `kind` (`role`, `tablespace`, `database`) `name` was on this scratch
    /// database's server before the run's first scratch database there was created: a
    /// statement that changes it there changes the server's for real.
    pub(crate) fn existed(&self, kind: &str, name: &str) -> bool {
        servers()
            .iter()
            .find(|r| r.key == self.server_key)
            .is_some_and(|run| {
                run.baseline
                    .contains_key(&(kind.to_string(), name.to_string()))
            })
    }

    /// Whether this scratch database is on the server of `target` (another database's
    /// environment): the same system identifier when both can be read
    /// (`pg_control_system()`, a superuser's by default), else the same host and port. A
    /// target that cannot be reached is taken for another server.
    pub(crate) fn on_server_of(&self, target: &Environment) -> bool {
        let here = &self.server.connection;
        let there = &target.connection;
        let hosts = |c: &crate::config::ConnectionSpec| {
            std::iter::once((c.host.clone(), c.port))
                .chain(c.more_hosts.iter().cloned())
                .collect::<Vec<_>>()
        };
        if hosts(there).contains(&(here.host.clone(), here.port)) {
            return true;
        }
        let ours = servers()
            .iter()
            .find(|r| r.key == self.server_key)
            .and_then(|run| run.system_identifier);
        let Some(ours) = ours else {
            return false;
        };
        crate::db::connect(target)
            .ok()
            .and_then(|mut client| system_identifier(&mut client))
            .is_some_and(|theirs| theirs == ours)
    }

    /// The scratch databases on this server that a run killed with SIGKILL left (no session is
    /// connected to one, and the process its name records is not running on this machine),
    /// each with the roles its objects and grants depend on (which it keeps from being
    /// dropped): what a refusal names, with the statements to clean up. Empty when they
    /// cannot be read.
    pub(crate) fn leftovers(&self) -> Vec<(String, Vec<String>)> {
        const LEFTOVERS: &str = "SELECT d.datname::pg_catalog.text, ARRAY(SELECT DISTINCT r.rolname::pg_catalog.text \
             FROM pg_catalog.pg_shdepend s JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) s.refobjid \
             WHERE s.dbid OPERATOR(pg_catalog.=) d.oid \
             AND s.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_authid'::pg_catalog.regclass ORDER BY 1) \
             FROM pg_catalog.pg_database d \
             WHERE pg_catalog.starts_with(d.datname::pg_catalog.text, 'confiture_scratch_') \
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.datid OPERATOR(pg_catalog.=) d.oid) \
             ORDER BY 1";
        let Ok((mut client, _)) = maintenance_client(&self.server) else {
            return Vec::new();
        };
        // Only a refusal's detail: under the bounds of a read that explains one.
        let Ok(rows) = crate::db::explaining_read(&mut client, |tx| tx.query(LEFTOVERS, &[]))
        else {
            return Vec::new();
        };
        rows.iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, Vec<String>>(1)))
            .filter(|(name, _)| {
                let pid = name
                    .strip_prefix(PREFIX)
                    .and_then(|rest| rest.split('_').next())
                    .and_then(|pid| pid.parse::<u32>().ok());
                // A run of this machine that is still going (between creating its database
                // and connecting to it) is not a leftover.
                !pid.is_some_and(|pid| {
                    pid == std::process::id()
                        || std::path::Path::new(&format!("/proc/{pid}")).exists()
                })
            })
            .collect()
    }

    /// Records the SQL `texts` the migrations replayed here may run (their up and down files):
    /// a role, tablespace or database that appears on the server during the run is the run's
    /// when one of them names it ([`restore_server`]).
    pub(crate) fn replays(&self, texts: impl IntoIterator<Item = String>) {
        let mut servers = servers();
        if let Some(run) = servers.iter_mut().find(|r| r.key == self.server_key) {
            for text in texts {
                let text = text.to_lowercase();
                if !run.texts.contains(&text) {
                    run.texts.push(text);
                }
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        blocking_here(|| self.drop_quietly());
    }
}

impl Scratch {
    /// What dropping it does, on this thread: [`Scratch::drop_now`] without its report.
    fn drop_quietly(&mut self) {
        let mut registry = registry();
        let name = self.env.connection.dbname.clone();
        let before = registry.live.len();
        registry.live.retain(|(_, n)| *n != name);
        if registry.live.len() != before && drop_tracked(&self.server, &name).is_ok() {
            drop(registry);
            if let Some(run) = leave(&self.server_key) {
                let _ = restore_server(&run);
            }
        }
    }
}

/// [`drop_database`], the database named by [`being_dropped`] until it is gone: a run stopped
/// by a signal drops its own scratch database, and a second signal while that drop hangs
/// names it as left behind, as it does those of [`drop_all`].
fn drop_tracked(server: &Environment, name: &str) -> Result<()> {
    dropping().push((server.connection.to_string(), name.to_string()));
    let dropped = drop_database(server, name);
    if dropped.is_ok() {
        dropping().retain(|(_, n)| n != name);
    }
    dropped
}

/// How long the drop at the end of a run waits for the scratch database's server to accept
/// connections again after its first try met a server going away ([`back_again`]): a
/// restart's shutdown checkpoint and start, on a loaded machine.
const SERVER_BACK: std::time::Duration = std::time::Duration::from_secs(30);

/// `server`, its connections waiting for it to accept them again ([`SERVER_BACK`], or the
/// environment's own `migration.wait_for_server` when longer): the one bounded wait of a drop
/// tried again. Not [`drop_all`]'s, which never waits for a server that does not answer.
fn back_again(server: &Environment) -> Environment {
    let mut server = server.clone();
    server.migration.wait_for_server = server.migration.wait_for_server.max(SERVER_BACK);
    server
}

/// `error`, the drop of scratch database `name` on `server` failing at the end of a run, as
/// the database left there (named, its server too, whatever step failed: connecting, the
/// drop) and the statement that drops it ([`drop_statement`], quoted), for a person to run.
fn left_behind(error: Error, server: &Environment, name: &str) -> Error {
    let mut left = Error::connection(format!(
        "the scratch database {} was left on the server of {}: {}",
        quoted(name),
        server.connection,
        error.message_with_cause()
    ))
    .with_help(format!(
        "once that server accepts connections, drop it there with `{}`",
        drop_statement(name)
    ));
    left.share_source_of(&error);
    left
}

/// Set by [`leave_stopped_runs_to_drop_all`].
static LEFT_TO_DROP_ALL: AtomicBool = AtomicBool::new(false);

/// For a process that calls [`drop_all`] once a run it stopped has reported (the CLI's
/// signal thread): from now on, a `verify` or `drift` run stopped from outside
/// ([`crate::Migrator::stop_when`]) returns its report without dropping its scratch databases,
/// which stay registered for [`drop_all`] — the report first, the cleanup after, however long
/// a loaded server takes to drop them. Without it, a stopped run drops them before it returns.
pub fn leave_stopped_runs_to_drop_all() {
    LEFT_TO_DROP_ALL.store(true, Ordering::SeqCst);
}

/// Whether a scratch database this process created is still there (not dropped yet): a run
/// stopped now may still be reporting what it was doing there (a signal handler waits for that
/// report before [`drop_all`]); with none, the drop cuts nothing short.
pub fn any_live() -> bool {
    !registry().live.is_empty()
}

/// Drops every scratch database this process created and has not dropped yet, and refuses to
/// create more: for a signal handler, just before the process exits. Returns the names of the
/// databases dropped, and the errors of those that could not be.
pub fn drop_all() -> (Vec<String>, Vec<Error>) {
    blocking_here(drop_all_here)
}

/// [`drop_all`], on this thread.
fn drop_all_here() -> (Vec<String>, Vec<Error>) {
    let mut registry = registry();
    registry.closing = true;
    let mut dropped = Vec::new();
    let mut errors = Vec::new();
    let live = std::mem::take(&mut registry.live);
    dropping().extend(
        live.iter()
            .map(|(server, name)| (server.connection.to_string(), name.clone())),
    );
    for (server, name) in live {
        match drop_database(&server, &name) {
            Ok(()) => {
                dropping().retain(|(_, n)| *n != name);
                dropped.push(name);
            }
            Err(e) => errors.push(e),
        }
    }
    // Every scratch database is gone (or left, named): what is server-wide is put back.
    let runs = std::mem::take(&mut *servers());
    for run in runs {
        match restore_server(&run) {
            Ok(left) => errors.extend(left.into_iter().map(left_on_server)),
            Err(e) => errors.push(e),
        }
    }
    (dropped, errors)
}

/// One thing a replay left on its scratch server ([`restore_server`]), as an error.
fn left_on_server(sentence: String) -> Error {
    Error::new(crate::ErrorKind::MigrationFailed, sentence)
}

/// Roles, replication slots and origins, tablespaces and databases (other than scratch
/// databases) are the server's, not a database's: a migration that creates a role creates it on
/// the scratch database's server for real, where dropping the scratch database does not remove
/// it. Each row: the kind, the name,
/// and what a migration can change of it (attributes, memberships, settings, owner,
/// privileges, comment), as one text. A role's settings in one database (`ALTER ROLE ... IN
/// DATABASE`) are that database's: another session's change of them in its own database is
/// not the run's.
const SERVER_WIDE_SQL: &str = "\
SELECT 'role', r.rolname::pg_catalog.text, pg_catalog.concat_ws(' | ', 'oid ' OPERATOR(pg_catalog.||) r.oid, \
    'superuser ' OPERATOR(pg_catalog.||) r.rolsuper, 'inherit ' OPERATOR(pg_catalog.||) r.rolinherit, 'createrole ' OPERATOR(pg_catalog.||) r.rolcreaterole, \
    'createdb ' OPERATOR(pg_catalog.||) r.rolcreatedb, 'login ' OPERATOR(pg_catalog.||) r.rolcanlogin, 'replication ' OPERATOR(pg_catalog.||) r.rolreplication, \
    'bypassrls ' OPERATOR(pg_catalog.||) r.rolbypassrls, 'connection limit ' OPERATOR(pg_catalog.||) r.rolconnlimit, \
    'valid until ' OPERATOR(pg_catalog.||) r.rolvaliduntil::pg_catalog.text, \
    'member of ' OPERATOR(pg_catalog.||) (SELECT pg_catalog.string_agg(g.rolname::pg_catalog.text \
        OPERATOR(pg_catalog.||) CASE WHEN m.admin_option THEN ' with admin' ELSE '' END, ', ' ORDER BY g.rolname) \
        FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid \
        WHERE m.member OPERATOR(pg_catalog.=) r.oid), \
    'settings ' OPERATOR(pg_catalog.||) (SELECT pg_catalog.array_to_string(s.setconfig, ', ') \
        FROM pg_catalog.pg_db_role_setting s WHERE s.setrole OPERATOR(pg_catalog.=) r.oid AND s.setdatabase OPERATOR(pg_catalog.=) 0), \
    (SELECT pg_catalog.string_agg('has member ' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(mr.rolname) \
        OPERATOR(pg_catalog.||) CASE WHEN m.admin_option THEN ' with admin' ELSE '' END, ' | ' ORDER BY mr.rolname) \
        FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles mr ON mr.oid OPERATOR(pg_catalog.=) m.member \
        WHERE m.roleid OPERATOR(pg_catalog.=) r.oid), \
    'comment ' OPERATOR(pg_catalog.||) pg_catalog.shobj_description(r.oid, 'pg_authid')) \
FROM pg_catalog.pg_roles r \
UNION ALL \
SELECT 'replication slot', s.slot_name::pg_catalog.text, pg_catalog.concat_ws(' | ', \
    'type ' OPERATOR(pg_catalog.||) s.slot_type, 'database ' OPERATOR(pg_catalog.||) s.database::pg_catalog.text, 'plugin ' OPERATOR(pg_catalog.||) s.plugin::pg_catalog.text) \
FROM pg_catalog.pg_replication_slots s \
UNION ALL \
SELECT 'replication origin', o.roname::pg_catalog.text, 'id ' OPERATOR(pg_catalog.||) o.roident \
FROM pg_catalog.pg_replication_origin o \
UNION ALL \
SELECT 'tablespace', t.spcname::pg_catalog.text, pg_catalog.concat_ws(' | ', \
    'owner ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(t.spcowner), 'privileges ' OPERATOR(pg_catalog.||) t.spcacl::pg_catalog.text, \
    'options ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(t.spcoptions, ', '), \
    'comment ' OPERATOR(pg_catalog.||) pg_catalog.shobj_description(t.oid, 'pg_tablespace')) \
FROM pg_catalog.pg_tablespace t \
UNION ALL \
SELECT 'database', d.datname::pg_catalog.text, pg_catalog.concat_ws(' | ', \
    'owner ' OPERATOR(pg_catalog.||) pg_catalog.pg_get_userbyid(d.datdba), 'privileges ' OPERATOR(pg_catalog.||) d.datacl::pg_catalog.text, \
    'connection limit ' OPERATOR(pg_catalog.||) d.datconnlimit, 'allow connections ' OPERATOR(pg_catalog.||) d.datallowconn, \
    'template ' OPERATOR(pg_catalog.||) d.datistemplate, \
    'settings ' OPERATOR(pg_catalog.||) (SELECT pg_catalog.string_agg(CASE WHEN s.setrole OPERATOR(pg_catalog.=) 0 THEN '*' ELSE pg_catalog.pg_get_userbyid(s.setrole)::pg_catalog.text END \
        OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) pg_catalog.array_to_string(s.setconfig, ', '), '; ' ORDER BY 1) \
        FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase OPERATOR(pg_catalog.=) d.oid), \
    'comment ' OPERATOR(pg_catalog.||) pg_catalog.shobj_description(d.oid, 'pg_database')) \
FROM pg_catalog.pg_database d \
WHERE NOT pg_catalog.starts_with(d.datname::pg_catalog.text, 'confiture_scratch_')";

/// What is server-wide on a server ([`SERVER_WIDE_SQL`]): `(kind, name)` → its description.
type ServerWide = std::collections::BTreeMap<(String, String), String>;

fn read_server_wide(
    client: &mut postgres::Client,
) -> std::result::Result<ServerWide, postgres::Error> {
    Ok(
        crate::db::own_read(client, |tx| tx.query(SERVER_WIDE_SQL, &[]))?
            .iter()
            .map(|row| ((row.get(0), row.get(1)), row.get(2)))
            .collect(),
    )
}

/// The scratch databases this process has on one server, and what was server-wide there
/// before the first of them was created: the baseline the last one to be dropped puts the
/// server back to ([`restore_server`]). One per server, whichever runs share it (a fleet's
/// targets, drift's two scratch databases), so that one run never takes the roles another
/// is still replaying for leftovers.
struct ServerRun {
    key: String,
    /// The server, as the scratch databases were created on it.
    server: Environment,
    /// The roles the connection logs in as and sets (which a migration may alter as
    /// `CURRENT_USER` without naming them).
    own_roles: Vec<String>,
    baseline: ServerWide,
    /// Scratch databases of this process still there.
    live: usize,
    /// The server's system identifier, when the role may read it.
    system_identifier: Option<i64>,
    /// The SQL of the migrations replayed, lowercased ([`Scratch::replays`]).
    texts: Vec<String>,
}

static SERVERS: Mutex<Vec<ServerRun>> = Mutex::new(Vec::new());

fn servers() -> std::sync::MutexGuard<'static, Vec<ServerRun>> {
    SERVERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server a scratch database is on, whichever database a session there names.
fn server_key(server: &Environment) -> String {
    let c = &server.connection;
    format!("{}@{}:{}", c.user, c.host, c.port)
}

/// A scratch database is created on `server` (`key`): the first of this process there reads
/// what is server-wide, on `client`.
fn enter(
    client: &mut postgres::Client,
    server: &Environment,
    key: &str,
) -> std::result::Result<(), postgres::Error> {
    let mut servers = servers();
    if let Some(run) = servers.iter_mut().find(|r| r.key == key) {
        run.live += 1;
        return Ok(());
    }
    let baseline = read_server_wide(client)?;
    let own_roles = crate::db::own_read(client, |tx| {
        tx.query(
            "SELECT CURRENT_USER::pg_catalog.text, SESSION_USER::pg_catalog.text",
            &[],
        )
    })?
    .first()
    .map(|row| vec![row.get(0), row.get(1)])
    .unwrap_or_default();
    let system_identifier = system_identifier(client);
    servers.push(ServerRun {
        key: key.to_string(),
        server: server.clone(),
        own_roles,
        baseline,
        live: 1,
        system_identifier,
        texts: Vec::new(),
    });
    Ok(())
}

/// The server's system identifier (`pg_control_system()`), unless the role may not read it.
fn system_identifier(client: &mut postgres::Client) -> Option<i64> {
    crate::db::own_read(client, |tx| {
        tx.query_opt(
            "SELECT system_identifier FROM pg_catalog.pg_control_system()",
            &[],
        )
    })
    .ok()
    .flatten()
    .map(|row| row.get(0))
}

/// A scratch database on the server `key` was dropped: the last one's run, to restore.
fn leave(key: &str) -> Option<ServerRun> {
    let mut servers = servers();
    let at = servers.iter().position(|r| r.key == key)?;
    servers[at].live -= 1;
    (servers[at].live == 0).then(|| servers.remove(at))
}

/// The roles, tablespaces and databases that were on the server of `env` (a scratch database
/// of this process) before its run there, and that `sql` creates (`CREATE ROLE`, `USER`,
/// `GROUP`, `TABLESPACE`, `DATABASE`) and names: what a replay of `sql` cannot create there.
pub(crate) fn server_objects_created(env: &Environment, sql: &str) -> Vec<(String, String)> {
    let text = sql.to_lowercase();
    let words: Vec<&str> = text.split_whitespace().collect();
    let creates = |kinds: &[&str]| {
        words
            .windows(2)
            .any(|w| w[0] == "create" && kinds.contains(&w[1]))
    };
    let servers = servers();
    let Some(run) = servers.iter().find(|r| r.key == server_key(env)) else {
        return Vec::new();
    };
    run.baseline
        .keys()
        .filter(|(kind, _)| match kind.as_str() {
            "role" => creates(&["role", "user", "group"]),
            "tablespace" => creates(&["tablespace"]),
            "database" => creates(&["database"]),
            _ => false,
        })
        .filter(|(_, name)| names(&text, name))
        .cloned()
        .collect()
}

/// Whether `name` appears in `text` (lowercased) as a whole word of SQL, quoted or not.
fn names(text: &str, name: &str) -> bool {
    let name = name.to_lowercase();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Puts the server back as `run` found it, once its scratch databases are dropped: every role
/// and tablespace that appeared during the run and that a migration replayed names is dropped
/// (the scratch database that held its objects and grants is gone). What cannot be put back is
/// returned, one sentence each, naming it and what to do: such a role that could not be
/// dropped, a database a migration created, and a role, tablespace or database that was there
/// before and that the migrations changed or dropped. A role or tablespace no migration names
/// is another session's, and left alone.
fn restore_server(run: &ServerRun) -> Result<Vec<String>> {
    let where_ = format!("the server of {}", run.server.connection);
    let failed = |e: postgres::Error| {
        crate::db::query_error(
            &format!("cannot read the roles, tablespaces and databases of {where_}"),
            e,
        )
    };
    let ours = |name: &str| run.texts.iter().any(|t| names(t, name));
    let (mut client, _) = maintenance_client(&run.server)?;
    let now = read_server_wide(&mut client).map_err(failed)?;
    let mut left = Vec::new();
    for (kind, name) in now.keys().filter(|k| !run.baseline.contains_key(*k)) {
        if !ours(name) {
            continue;
        }
        let q = quoted(name);
        let statement = match kind.as_str() {
            "role" => format!("DROP ROLE {q}"),
            "tablespace" => format!("DROP TABLESPACE {q}"),
            // It keeps the server's WAL until dropped.
            "replication slot" => format!(
                "SELECT pg_catalog.pg_drop_replication_slot('{}')",
                name.replace('\'', "''")
            ),
            // The next `pg_replication_origin_create` of its name would fail.
            "replication origin" => format!(
                "SELECT pg_catalog.pg_replication_origin_drop('{}')",
                name.replace('\'', "''")
            ),
            _ => {
                left.push(format!(
                    "{kind} {q} was created on {where_} by the migrations replayed, and is left \
                 there: drop it (`DROP DATABASE {q};`) before the migrations run on that server for real"
                ));
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&statement) {
            left.push(format!(
                "{kind} {q} was created on {where_} by the migrations replayed (a {kind} is the \
                 server's, not a database's), and could not be dropped: {}; drop it there \
                 (`{statement};`) before the migrations run on that server for real",
                crate::db::cause_text(&e)
            ));
        }
    }
    let now = read_server_wide(&mut client).map_err(failed)?;
    for ((kind, name), before) in &run.baseline {
        if !ours(name) && !run.own_roles.iter().any(|r| r == name && kind == "role") {
            continue;
        }
        let q = quoted(name);
        match now.get(&(kind.clone(), name.clone())) {
            None => left.push(format!(
                "{kind} {q}, which was on {where_} before the run, was dropped by the migrations \
                 replayed (a {kind} is the server's, not a database's): create it again by \
                 hand ({}), and verify such migrations with `--scratch-url` naming another \
                 server{}",
                before,
                lost_from_role(kind, name, before, "")
            )),
            Some(after) if after != before => left.push(format!(
                "{kind} {q}, which was on {where_} before the run, was changed by the migrations \
                 replayed (a {kind} is the server's, not a database's), and is not put back \
                 ({}): put it back by hand, and verify such migrations with `--scratch-url` \
                 naming another server{}",
                changes(before, after),
                lost_from_role(kind, name, before, after)
            )),
            Some(_) => {}
        }
    }
    Ok(left)
}

/// `confiture_scratch_<pid>_<n>_<nanos>`: unique within the process by the counter, across
/// processes by the pid, and across pid reuse by the clock. At most 63 bytes.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000_000)
        .unwrap_or(0);
    format!("{PREFIX}{}_{n}_{nanos}", std::process::id())
}

/// The timeouts a target's `ALTER DATABASE ... SET` (or its role's) may give every session, that
/// a scratch database gets with its other settings — for the migrations' sake — and that would
/// end the tool's own sessions there: the session that reads the snapshots sits idle while
/// another runs a migration (`idle_session_timeout`), and its catalog reads are no migration's
/// statements. Only those the server knows are set (`idle_session_timeout` is PostgreSQL 14's,
/// `transaction_timeout` 17's). A read of `pg_settings`: with the tool's own reads' bounds
/// (`db::own_read_bounds`, its `work_mem` among them).
fn own_session_timeouts() -> String {
    format!(
        "{} SELECT pg_catalog.set_config(s.name, '0', false) \
         FROM pg_catalog.pg_settings s WHERE s.name OPERATOR(pg_catalog.=) ANY (ARRAY[\
         'idle_session_timeout', 'idle_in_transaction_session_timeout', 'statement_timeout', \
         'transaction_timeout'])",
        crate::db::own_read_bounds()
    )
}

/// Turns off, for the session `client` (one of the tool's own on the scratch database `env`
/// names, not a migration's), the timeouts the target's settings gave it
/// ([`own_session_timeouts`]): one round trip.
pub(crate) fn own_session(client: &mut postgres::Client, env: &Environment) -> Result<()> {
    // `statement_timeout` first, by the cheapest statement: the catalog read may take longer
    // than a tiny one the target gave every session (and sent again when that one cancelled
    // it, [`again_if_timed_out`]).
    again_if_timed_out(
        client,
        &format!("SET statement_timeout = 0; {}", own_session_timeouts()),
    )
    .map_err(|e| {
        let what = format!("cannot prepare a session on {}", env.connection);
        crate::db::query_error(&what, e)
    })
}

/// What a file run on a scratch session left there ([`end_file`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileEnd {
    /// A transaction block was left open — `Some(true)` when aborted by an error —, and rolled
    /// back; `None`: none was.
    pub transaction_left_open: Option<bool>,
}

/// Ends what a file of SQL run on the scratch session `client` (a schema file of `migrate
/// drift --schema-dir`) left in it, as the end of `psql -f`'s session would: a transaction
/// block left open is rolled back (and said, [`FileEnd`]), then the session is put back as it
/// connected — `DISCARD ALL`: settings (`search_path`, timeouts: the connection's again, which
/// the caller sets anew), session authorization and role, temporary objects, prepared
/// statements, cursors, `LISTEN`s, advisory locks. The scratch session holds nothing of the
/// tool's then. Which transaction state the session is in is asked of the server by a
/// `SAVEPOINT` (refused outside a transaction block, 25P01; refused in an aborted one, 25P02;
/// taken in an open one).
///
/// A file may have set `statement_timeout` tiny, and each of these statements runs under it
/// until one turns it off: that one goes alone in its message (a `SAVEPOINT` refused in the
/// same message took it back with the implicit transaction), and every statement here is sent
/// again when that timeout cancelled it ([`again_if_timed_out`]).
pub(crate) fn end_file(client: &mut postgres::Client) -> Result<FileEnd, postgres::Error> {
    use postgres::error::SqlState;
    let open = match again_if_timed_out(client, "SET statement_timeout = 0") {
        Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => Some(true),
        Err(e) => return Err(e),
        Ok(()) => match again_if_timed_out(client, "SAVEPOINT confiture_end") {
            Ok(()) => Some(false),
            Err(e) if e.code() == Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION) => None,
            // The `SET` above ran in an open transaction, not an aborted one: the timeout's
            // cancel of a first `SAVEPOINT` aborted it.
            Err(e) if e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION) => Some(false),
            Err(e) => return Err(e),
        },
    };
    if open.is_some() {
        // Takes back a `SET` made in the transaction, the one above included.
        client.batch_execute("ROLLBACK")?;
        again_if_timed_out(client, "SET statement_timeout = 0")?;
    }
    // Alone in its message: it cannot run inside a transaction block, an implicit one included.
    again_if_timed_out(client, "DISCARD ALL")?;
    Ok(FileEnd {
        transaction_left_open: open,
    })
}

/// Sends `sql`, one of the tool's own statements that can be sent twice, again when a
/// `statement_timeout` cancelled it (57014, a few times at most): the timeout a file left
/// bounds the statement that turns it off, and a timer that fired after a statement's last
/// check for interrupts cancels the next statement (PostgreSQL delivers it then). A statement
/// that failed leaves no timer behind, and one sent after the timeout is off starts none.
fn again_if_timed_out(client: &mut postgres::Client, sql: &str) -> Result<(), postgres::Error> {
    /// Each try but the first follows one that the timeout cancelled, which leaves none behind:
    /// only a timer as short as the statement itself cancels it again.
    const TRIES: usize = 5;
    let mut tries = 1;
    loop {
        match client.batch_execute(sql) {
            Err(e)
                if tries < TRIES
                    && e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) =>
            {
                tries += 1;
            }
            done => return done,
        }
    }
}

/// `name` as a quoted SQL identifier: `"a""b"`.
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A session on `server`'s server in which to create or drop databases, with
/// `default_transaction_read_only` and the target's timeouts ([`own_session_timeouts`]) off:
/// a read-only target database (or role, or server) is a guard for that database, and the
/// statements sent here write only scratch databases.
///
/// With several hosts, the first that can write, whatever `target_session_attrs` asks of the
/// target's sessions (`connect::Need::Scratch`); returned with the host it reached.
fn maintenance_client(
    server: &Environment,
) -> Result<(postgres::Client, crate::db::connect::Reached)> {
    use crate::db::connect::{open_session_if_exists, Need, Session};
    let writable = |session: Session, env: &Environment| {
        let Session {
            mut client,
            reached,
        } = session;
        client
            // The literals of `CREATE DATABASE` double their quotes only.
            // The target's timeouts are for migrations: a `statement_timeout` shorter than a
            // `CREATE DATABASE` failed every run, and one shorter than the drop at the end
            // left the scratch database behind. The startup packet turns `statement_timeout`
            // off (`Need::own_settings`); without it (a pooler that refuses startup options) it
            // goes first, by the cheapest statement: each statement of the message is bound by
            // it until then, and the catalog read of `own_session_timeouts` may take longer
            // than a tiny one.
            .batch_execute(&format!(
                "SET statement_timeout = 0; SET {READ_ONLY_SETTING} = off; \
                 SET standard_conforming_strings = on; {}",
                own_session_timeouts()
            ))
            .map_err(|e| {
                let what = format!("cannot prepare a session on {}", env.connection);
                crate::db::query_error(&what, e)
            })?;
        Ok((client, reached))
    };
    if let Some(session) = open_session_if_exists(server, Need::Scratch)? {
        return writable(session, server);
    }
    for database in MAINTENANCE_DATABASES {
        let mut maintenance = server.clone();
        maintenance.connection.dbname = database.to_string();
        if let Some(session) = open_session_if_exists(&maintenance, Need::Scratch)? {
            return writable(session, &maintenance);
        }
    }
    Err(Error::connection(format!(
        "cannot create a scratch database on the server of {}: it has neither that database nor \
         a `postgres` or `template1` database to connect to",
        server.connection
    ))
    .with_help(scratch_url_help(server, false)))
}

/// What to do when the role may not create a scratch database on `server`: another server, or
/// the grant — as the statement a superuser of that server runs, naming the role `server`'s
/// connection logs in as (quoted, a password pair in its name masked), when the server said
/// so (`role_refused`).
fn scratch_url_help(server: &Environment, role_refused: bool) -> String {
    let grant = if role_refused {
        let role = crate::display::escape(&quoted(&server.connection.shown_user())).into_owned();
        format!(" (a superuser of that server runs `ALTER ROLE {role} CREATEDB;`)")
    } else {
        String::new()
    };
    format!(
        "give {} naming a server where this role may create databases (a local PostgreSQL of \
         the same major version will do), or grant this role CREATEDB{grant}",
        "`--scratch-url URL`"
    )
}

/// Neither the session's role `current`, set by the connection's options, nor the login role
/// `session` may create databases on `server`'s server: exit 3, as for one role that may not.
fn neither_may_create(server: &Environment, current: &str, session: &str) -> Error {
    let shown = |role: &str| crate::display::escape(&quoted(role)).into_owned();
    let (current, session) = (shown(current), shown(session));
    Error::connection(format!(
        "cannot create a scratch database on the server of {}: neither the session's role \
         {current} (set by the connection's options) nor the login role {session} may create \
         databases",
        server.connection
    ))
    .with_help(format!(
        "grant CREATEDB to {current} (the role the migrations run as, which then owns the \
         scratch database) or to {session}, or give {} naming a server where this role may \
         create databases",
        "`--scratch-url URL`"
    ))
}

/// The error of a `CREATE DATABASE` refused: about `scratch`, the database it would have been.
fn create_error(server: &Environment, scratch: &Environment, e: postgres::Error) -> Error {
    let what = format!(
        "cannot create a scratch database \"{}\" on the server of {}",
        scratch.connection.dbname, server.connection
    );
    let role_refused = e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
    let mut error = crate::verify::raised_on(scratch, crate::db::query_error(&what, e));
    error.help = Some(scratch_url_help(server, role_refused));
    error
}

/// How long [`drop_database`] tries again while sessions are still there (SQLSTATE 55006): each
/// try waits up to 5 s on the server for the sessions it ended to exit, which on a loaded
/// machine may take longer, and for sessions of ours closed just before.
const STILL_IN_USE: std::time::Duration = std::time::Duration::from_secs(60);

/// The pause between two tries of [`drop_database`].
const STILL_IN_USE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// `DROP DATABASE ... WITH (FORCE)`, which ends the sessions still connected to it
/// (PostgreSQL 13+); on an older server, those sessions are terminated first. Refused for
/// being in use (55006) — a subscription a migration made, dropped first, or sessions still
/// exiting 5 s after the server ended them, on a loaded machine —, it is tried again for
/// [`STILL_IN_USE`], unless what holds it never goes away by itself ([`held`]).
fn drop_database(server: &Environment, name: &str) -> Result<()> {
    use postgres::error::SqlState;
    let what = || {
        format!(
            "cannot drop the scratch database \"{name}\" on {}",
            server.connection
        )
    };
    let (mut client, _) = maintenance_client(server)?;
    let q = quoted(name);
    let drop = format!("DROP DATABASE IF EXISTS {q} WITH (FORCE)");
    let mut dropped = client.batch_execute(&drop);
    // The session's role (`options=-c role=owner`), which owns the database, may not end the
    // sessions still there, which are the login role's (a run interrupted while it replays,
    // or a session of ours not gone yet): the login role may, and has its role's privileges.
    // Its refusal is then the one that says what stands in the way (55006 included).
    if matches!(&dropped, Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE))
        && client.batch_execute("SET ROLE NONE").is_ok()
    {
        dropped = client.batch_execute(&drop);
    }
    let deadline = std::time::Instant::now() + STILL_IN_USE;
    let mut subscriptions_dropped = false;
    loop {
        match dropped {
            Ok(()) => return Ok(()),
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                if !subscriptions_dropped {
                    // A subscription a migration made there: the server drops no database
                    // that has one.
                    drop_subscriptions(server, name)?;
                    subscriptions_dropped = true;
                } else if std::time::Instant::now() >= deadline || held(&mut client, name) {
                    // Waited long enough, or what holds it never goes away by itself.
                    return Err(crate::db::query_error(&what(), e));
                } else {
                    std::thread::sleep(STILL_IN_USE_PAUSE);
                }
                dropped = client.batch_execute(&drop);
            }
            Err(e) if e.code() == Some(&SqlState::SYNTAX_ERROR) => {
                client
                    .execute(
                        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                         WHERE datname OPERATOR(pg_catalog.=) $1",
                        &[&name],
                    )
                    .map_err(|e| crate::db::query_error(&what(), e))?;
                return client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {q}"))
                    .map_err(|e| crate::db::query_error(&what(), e));
            }
            Err(e) => return Err(crate::db::query_error(&what(), e)),
        }
    }
}

/// Whether database `name` is held by what no waiting ends: a prepared transaction or a
/// replication slot there (a migration's), which `DROP DATABASE` also refuses with 55006 — not
/// a session, which a server on a loaded machine may still count a while after it ended
/// (listed in `pg_stat_activity` or not). `false` when that cannot be read.
fn held(client: &mut postgres::Client, name: &str) -> bool {
    crate::db::own_read(client, |tx| {
        tx.query_one(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts \
             WHERE database OPERATOR(pg_catalog.=) $1) \
             OR EXISTS (SELECT FROM pg_catalog.pg_replication_slots \
             WHERE database OPERATOR(pg_catalog.=) $1)",
            &[&name],
        )
    })
    .is_ok_and(|row| row.get(0))
}

/// Drops the subscriptions of the scratch database `name` (which `DROP DATABASE` refuses to drop
/// while it has one, SQLSTATE 55006), from a session there: each disabled and detached from its
/// replication slot first — a slot is the publisher's, and not the scratch database's to drop.
fn drop_subscriptions(server: &Environment, name: &str) -> Result<()> {
    use crate::db::connect::{open_session_if_exists, Need, Session};
    let mut scratch = server.clone();
    scratch.connection.dbname = name.to_string();
    let Some(Session { mut client, .. }) = open_session_if_exists(&scratch, Need::Scratch)? else {
        return Ok(());
    };
    own_session(&mut client, &scratch)?;
    let failed = |e| {
        let what = format!(
            "cannot drop the subscriptions of the scratch database \"{name}\" on {}",
            server.connection
        );
        crate::db::query_error(&what, e)
    };
    let subscriptions = crate::db::own_read(&mut client, |tx| {
        tx.query(
            "SELECT s.subname::pg_catalog.text FROM pg_catalog.pg_subscription s \
             WHERE s.subdbid OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d \
                                WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())",
            &[],
        )
    })
    .map_err(failed)?;
    for row in subscriptions {
        let q = quoted(row.get(0));
        for statement in [
            format!("ALTER SUBSCRIPTION {q} DISABLE"),
            format!("ALTER SUBSCRIPTION {q} SET (slot_name = NONE)"),
            format!("DROP SUBSCRIPTION {q}"),
        ] {
            client.batch_execute(&statement).map_err(failed)?;
        }
    }
    Ok(())
}

/// Runs `sql` (any number of statements) as one simple-query message on a scratch database:
/// a statement of the DDL files of a schema directory (or a whole file), a tenant's schema. On
/// failure, the error `failed` makes, with the server's message and SQLSTATE as its cause and
/// the driver's error as its [`source`](std::error::Error::source) ([`Error::driver_error`]).
/// `failed` is given the byte offset in `sql` where the server placed the error, when it did.
pub fn execute(
    client: &mut postgres::Client,
    sql: &str,
    failed: impl FnOnce(Option<usize>) -> Error,
) -> Result<()> {
    blocking_here(|| client.batch_execute(sql)).map_err(|e| {
        let cause = super::cause_text(&e);
        let at = match e.as_db_error().and_then(|db| db.position()) {
            // The server counts characters from 1.
            Some(postgres::error::ErrorPosition::Original(position)) => {
                let chars = usize::try_from(*position).unwrap_or(usize::MAX);
                Some(
                    sql.char_indices()
                        .nth(chars.saturating_sub(1))
                        .map_or(sql.len(), |(offset, _)| offset),
                )
            }
            _ => None,
        };
        failed(at).with_source_shown(e, cause)
    })
}

/// What a role described `before` (by [`SERVER_WIDE_SQL`]) lost that its own description
/// says only in part: the statements that give its members back (`has member alice` gone:
/// `GRANT "ro" TO alice;`), and its password and per-database settings, which are not read
/// (another session changes the latter in its own database), and which a role dropped and
/// created again (another oid) no longer has. Empty for any other kind.
fn lost_from_role(kind: &str, name: &str, before: &str, after: &str) -> String {
    if kind != "role" {
        return String::new();
    }
    let now: Vec<&str> = after.split(" | ").collect();
    let grants: Vec<String> = before
        .split(" | ")
        .filter(|p| !now.contains(p))
        .filter_map(|p| p.strip_prefix("has member "))
        .map(|member| match member.strip_suffix(" with admin") {
            Some(member) => format!("GRANT {} TO {member} WITH ADMIN OPTION;", quoted(name)),
            None => format!("GRANT {} TO {member};", quoted(name)),
        })
        .collect();
    let mut said = String::new();
    if !grants.is_empty() {
        said.push_str(&format!(
            "; the roles that were its members lost what they had through it: `{}`",
            grants.join(" ")
        ));
    }
    let oid = |d: &str| {
        d.split(" | ")
            .find(|p| p.starts_with("oid "))
            .map(str::to_string)
    };
    // Dropped, or dropped and created again (another oid).
    if after.is_empty() || oid(before) != oid(after) {
        said.push_str(
            "; a password it had is gone with it (passwords are not read), and so are its \
             settings in each database (`ALTER ROLE ... IN DATABASE ... SET`, another \
             database's, not read): set them again (`ALTER ROLE ... PASSWORD ...`)",
        );
    }
    said
}

/// What differs between two descriptions of [`SERVER_WIDE_SQL`]: `connection limit -1 before,
/// connection limit 3 now`.
fn changes(before: &str, after: &str) -> String {
    let parts = |s: &str| -> Vec<String> { s.split(" | ").map(str::to_string).collect() };
    let (before, after) = (parts(before), parts(after));
    let gone = before.iter().filter(|p| !after.contains(p));
    let new = after.iter().filter(|p| !before.contains(p));
    let mut said: Vec<String> = gone.map(|p| format!("{p} before")).collect();
    said.extend(new.map(|p| format!("{p} now")));
    said.join(", ")
}
