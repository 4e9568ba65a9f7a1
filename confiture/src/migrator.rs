//! `Migrator`: the library facade — what the CLI, applications and xtask flows call.
//! Connects lazily; the connection is closed when the `Migrator` is dropped.

use std::path::{Path, PathBuf};

use crate::config::{self, Environment, Selection};
use crate::diagnostic::Diagnostic;
use crate::error::{Error, Result};
use crate::files::{self, CheckOptions, MigrationSet};
use crate::status::{self, StatusReport};
use crate::workspace::Workspace;

/// What [`Migrator::on_connect`] registers.
pub(crate) type OnConnect = Box<dyn FnOnce(&Environment) + Send>;

/// A migration session against one database, with one migrations directory.
pub struct Migrator {
    pub(crate) env: Environment,
    pub(crate) migrations_dir: PathBuf,
    pub(crate) check_options: CheckOptions,
    pub(crate) client: Option<postgres::Client>,
    /// Called once, just before the first connection: see [`Migrator::on_connect`].
    pub(crate) on_connect: Option<OnConnect>,
}

impl Migrator {
    /// A session for `env`'s database and the migrations in `migrations_dir`. Nothing is
    /// read or connected until a command needs it.
    pub fn new(
        env: Environment,
        migrations_dir: impl Into<PathBuf>,
        check_options: CheckOptions,
    ) -> Migrator {
        Migrator {
            env,
            migrations_dir: migrations_dir.into(),
            check_options,
            client: None,
            on_connect: None,
        }
    }

    /// Calls `announce` once, just before this session first reaches the server (to connect,
    /// or to create the database). The CLI prints its `using ...` line there, so that a request
    /// refused before connecting (`--steps 0`, an unknown `--target`, broken files) prints none.
    pub fn on_connect(&mut self, announce: impl FnOnce(&Environment) + Send + 'static) {
        self.on_connect = Some(Box::new(announce));
    }

    /// Runs the [`Migrator::on_connect`] callback, the first time only.
    pub(crate) fn announce_connect(&mut self) {
        if let Some(announce) = self.on_connect.take() {
            announce(&self.env);
        }
    }

    /// A session for the database a URL (or libpq conninfo) names, with the migrations of the
    /// workspace around the current directory.
    pub fn from_url(url: &str) -> Result<Migrator> {
        let env = Environment::from_url(url, "the database URL")?;
        let ws = Workspace::discover(&current_dir()?)?;
        Ok(Migrator::for_workspace(env, &ws))
    }

    /// A session for the environment file at `path` (like `-c FILE`), with the migrations of
    /// the workspace that contains the file. `${VAR}` is expanded from the process
    /// environment, and a `CONFITURE_DATABASE_URL` naming another database is an error.
    pub fn from_config(path: impl AsRef<Path>) -> Result<Migrator> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::invalid(format!(
                "environment file {} does not exist",
                path.display()
            ))
            .with_help("give the path of an environment file such as db/environments/prod.yaml"));
        }
        let absolute = current_dir()?.join(path);
        let start = absolute.parent().unwrap_or(&absolute);
        let ws = Workspace::discover(start)?;
        let env = config::resolve(
            &ws,
            &Selection::File(path.to_path_buf()),
            &config::process_vars,
        )?;
        Ok(Migrator::for_workspace(env, &ws))
    }

    /// A session for the environment `name` of the workspace (like `--env NAME`).
    pub fn from_env(ws: &Workspace, name: &str) -> Result<Migrator> {
        let env = config::resolve(ws, &Selection::Env(name.to_string()), &config::process_vars)?;
        Ok(Migrator::for_workspace(env, ws))
    }

    fn for_workspace(env: Environment, ws: &Workspace) -> Migrator {
        let options = CheckOptions {
            first_version: ws.settings.first_version,
        };
        Migrator::new(env, ws.migrations_dir(), options)
    }

    /// The resolved environment: which database, with which settings.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// The migrations directory this session reads.
    pub fn migrations_dir(&self) -> &Path {
        &self.migrations_dir
    }

    /// `migrate status`: the state of every migration. Strictly read-only — plain `SELECT`s,
    /// no lock, nothing created — and one round trip after connecting when the ledger exists.
    ///
    /// Problems in the files do not hide the database: a directory that cannot be read at all
    /// is an error (exit 5), but the report of a directory with errors — a draft being written,
    /// a file misnamed — still shows every migration, carries the diagnostics in
    /// `diagnostics`, marks the migrations they concern `invalid`, and its
    /// [`StatusReport::exit_code`] is 5: what `up` would answer before running anything.
    pub fn status(&mut self) -> Result<StatusReport> {
        let checked = files::load(&self.migrations_dir, &self.check_options)?;
        self.status_with(&checked.set, &checked.diagnostics)
    }

    /// The status of `set` (already read and checked; its diagnostics are not known here)
    /// against this database.
    pub fn status_of(&mut self, set: &MigrationSet) -> Result<StatusReport> {
        self.status_with(set, &[])
    }

    fn status_with(
        &mut self,
        set: &MigrationSet,
        diagnostics: &[Diagnostic],
    ) -> Result<StatusReport> {
        let table = self.env.migration.tracking_table.clone();
        // A lock on the ledger is waited for as migration SQL waits (`migration.lock_timeout`),
        // never forever.
        let wait = Some(self.env.migration.lock_timeout)
            .filter(|w| !w.is_zero())
            .unwrap_or(crate::db::ledger::DEFAULT_WAIT);
        let first_version = self.check_options.first_version;
        let client = self.client()?;
        let ledger = crate::db::ledger::read_within(client, &table, wait)?;
        let table_name = match &ledger {
            Some(ledger) => ledger.table.clone(),
            None => crate::db::ledger::qualified_name(client, &table)?,
        };
        let mut report = status::report_checked(
            set,
            diagnostics,
            first_version,
            ledger.as_ref(),
            &table_name,
        );
        report.database = Some(self.env.connection.to_string());
        Ok(report)
    }

    /// The connection, opened on first use.
    pub(crate) fn client(&mut self) -> Result<&mut postgres::Client> {
        if self.client.is_none() {
            self.announce_connect();
            self.client = Some(crate::db::connect(&self.env)?);
        }
        match &mut self.client {
            Some(client) => Ok(client),
            None => Err(Error::connection("not connected")),
        }
    }
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::invalid("cannot read the current directory").with_cause(e))
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
