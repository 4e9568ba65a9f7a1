//! Environments: which database, with which settings. Reads `<environments_dir>/<env>.yaml`
//! (confiture's format), expands `${VAR}`, applies the documented precedence, and describes
//! the connection without its password.
//!
//! # Which database
//!
//! The first of these that is present wins (`resolve`, feature `env-files`):
//!
//! 1. a URL ([`Selection::Url`]; the CLI's `--database-url URL`);
//! 2. an environment ([`Selection::Env`]; `--env NAME`, `<environments_dir>/NAME.yaml`) or an
//!    environment file ([`Selection::File`]; `-c FILE`);
//! 3. the `CONFITURE_DATABASE_URL` environment variable;
//! 4. the default environment file (`default_env`, normally `local`), if it exists (one
//!    there under a close name, `Local.yaml` or `local.yml`, or `default_env = "locl"` beside
//!    `local.yaml`, is a misspelling and refused: the next rules may name another database);
//! 5. the `DATABASE_URL` environment variable;
//! 6. `DATABASE_URL` in the nearest `.env` file that sets it, from
//!    [`Workspace::start`](crate::workspace::Workspace::start) up to the workspace root (read,
//!    never loaded into the process environment: it overrides nothing).
//!
//! An explicit file (2) together with a `CONFITURE_DATABASE_URL` that names another database
//! is an error: we never guess which one was meant. The default environment file (4) read while
//! `DATABASE_URL` names another database is no error (the order is documented), but it is
//! said: [`database_url_not_used`] gives the note the CLI prints on stderr, since sqlx-cli and
//! dbmate users export `DATABASE_URL` to aim at a database (or keep it in `.env`: the note
//! names a `.env`'s too). `${DATABASE_URL}` in an environment file takes the `.env`'s value of
//! rule 6 when the environment has none (`resolve::read_environment_file`). Empty variables count as unset. The
//! library knows no CLI flag: messages name the three selections by the `Labels` the caller
//! passes to `resolve_with` (the CLI passes its flags).
//!
//! # Environment files
//!
//! ```yaml
//! database_url: postgresql://app:${DB_PASSWORD}@db.internal:5432/app   # or key=value conninfo
//! database: {host: localhost, port: 5432, database: app, user: app}     # legacy, if no database_url
//! application_name: billing-migrations                                 # default cargo-confiture
//! migration:
//!   tracking_table: ops.tb_confiture   # default tb_confiture, found through search_path
//!   lock_timeout: 5s                   # default 5s; 0 disables
//!   statement_timeout: 10min           # default: the server's
//!   connect_timeout: 10s               # default 10s; 0 waits forever
//!   wait_for_server: 60s               # default 0: a server not up yet is an error at once
//!   lock_retries: 3                    # default 3
//! fleet:                               # the fleet commands' target list (see FleetSettings)
//!   targets: tenants.txt               # or a list, or targets_query / schemas_query
//!   jobs: 8
//! ```
//!
//! Durations are a whole number with a unit (`ms`, `s`, `min` or `m`, `h`); a number without
//! one is refused, `0` aside (it is seconds to libpq and milliseconds to PostgreSQL's settings:
//! `connect_timeout: 10` would be 10 s to some readers and 10 ms to others). (A
//! `connect_timeout` query parameter in a URL keeps libpq's meaning: whole seconds.) Every duration is at most 2147483647 ms
//! (`596h`), the limit of PostgreSQL's timeout settings ([`Timeout`]). When a URL and the file both set
//! `application_name` or `connect_timeout`, the URL wins, so the URL behaves as it does in psql.
//!
//! `${VAR}` and `${VAR:-default}` are expanded in the values this tool reads (not in keys that
//! only confiture's other features use); `$$` is a literal `$`, except in the keys confiture
//! (Python) reads too, which it never expands: there `$$` is refused (two dollar signs to it, one
//! to us), and a single `$` is itself. Keys of confiture's other
//! features (`include_dirs`, `build`, `seed`, `name`, ...) are ignored; an `ssh_tunnel:` block,
//! which changes the server confiture reaches, is refused unless null (we open no tunnel). Under
//! `migration:` and `database:`, an unknown key that is close to one we know is reported as a
//! misspelling; other unknown keys are left to confiture (Python), which shares the file. Top-level
//! keys starting with `x-`, `.` or `_` only hold anchors (`x-db: &db {...}`) and are ignored.
//!
//! confiture (Python) reads the file as YAML 1.1 (PyYAML). In the keys it reads too
//! (`database_url`, the `database:` block's connection keys, `migration.tracking_table`), an
//! unquoted value YAML 1.1 reads as something else than its text (`password: 0123`, the octal
//! 83 there) is refused with help to quote it; elsewhere an unquoted number is its text.
//!
//! # Modules
//!
//! `connection` (`ConnectionSpec`, shown without its password), `syntax` (URL and conninfo
//! grammar), `params` (the parameters we take and the checks on the result), `timeout`
//! (durations), `environment` (`Environment`, `Origin`, `Selection`); with feature `env-files`:
//! `file` (YAML environment files: the one user of `serde_yaml`), `yaml11` (what confiture's
//! YAML 1.1 makes of an unquoted value), `expand` (`${VAR}`),
//! `resolve` (precedence), `dotenv` (`.env`), `fleet_file` (the `fleet:` block, whose types are in
//! `fleet`); `suggest` (did-you-mean).

mod connection;
#[cfg(feature = "env-files")]
mod dotenv;
mod environment;
#[cfg(feature = "env-files")]
mod expand;
#[cfg(feature = "env-files")]
mod file;
mod fleet;
#[cfg(feature = "env-files")]
mod fleet_file;
mod libpq;
mod params;
#[cfg(feature = "env-files")]
mod resolve;
mod suggest;
mod syntax;
mod timeout;
#[cfg(feature = "env-files")]
mod yaml11;

use std::path::Path;

#[cfg(feature = "db")]
pub(crate) use connection::option_settings;
#[cfg(feature = "db")]
pub(crate) use connection::quoted_entry;
pub(crate) use connection::NameOrConnection;
#[cfg(feature = "db")]
pub(crate) use connection::PasswordSource;
pub use connection::{
    quoted, shown, ConnectionSpec, RedactedConnection, SslMode, TargetSessionAttrs,
    DEFAULT_APPLICATION_NAME, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_USER, SYSTEM_ROOTS,
};
#[cfg(feature = "env-files")]
pub use dotenv::FILE_NAME as DOTENV_FILE;
#[cfg(all(test, feature = "db"))]
pub(crate) use environment::BuiltBy;
#[cfg(feature = "db")]
pub(crate) use environment::ConnectionPart;
#[cfg(feature = "db")]
pub(crate) use environment::Listed;
#[cfg(feature = "db")]
pub(crate) use environment::PercentInCredentials;
#[cfg(feature = "db")]
pub(crate) use environment::ServerWaitWatch;
#[cfg(all(test, feature = "db"))]
pub(crate) use environment::UrlVariable;
pub(crate) use environment::{environment_of_file_name, is_environment_name};
pub use environment::{
    process_vars, Environment, MigrationSettings, Origin, Selection, WaitingForServer,
};
#[cfg(all(feature = "env-files", feature = "db"))]
pub(crate) use expand::unbraced_variable;
#[cfg(all(feature = "env-files", feature = "db"))]
pub(crate) use file::{read_interrupted, relative_base_of, stop_flag};
#[cfg(feature = "env-files")]
pub(crate) use file::{read_user_file, ReadError};
#[cfg(feature = "env-files")]
pub use file::{stop_reading_when, MAX_FILE_BYTES, MAX_FLOW_OPENERS, STREAM_WAIT};
pub use fleet::{is_no_target, list_entry, FleetList, FleetSettings, MAX_JOBS};
#[cfg(feature = "db")]
pub(crate) use libpq::home_directory;
pub use libpq::{PassfileUnread, READ_VARIABLES as LIBPQ_VARIABLES};
#[cfg(feature = "env-files")]
pub use resolve::{
    database_url_not_used, list_environments, resolve, resolve_with, tracking_table_of, Labels,
};
#[cfg(feature = "db")]
pub(crate) use syntax::dbname_as_written;
#[cfg(all(feature = "env-files", feature = "db"))]
pub(crate) use syntax::has_url_scheme;
#[cfg(feature = "env-files")]
pub(crate) use syntax::is_url_like;
pub use syntax::names_a_connection;
pub use syntax::MAX_NAME_BYTES;
pub use syntax::{connection_given_as, InPlaceOf};
pub use timeout::{Timeout, TimeoutError, Zero};

/// A path as the user would type it: relative to the current directory (`../db/...` from a
/// subdirectory, [`crate::display::relative`]), written as [`crate::display::path_text`]
/// writes it (a byte that is not UTF-8 as `\xff`); not escaped (renderers escape messages).
pub(crate) fn display_path(path: &Path) -> String {
    crate::display::path_text(&crate::display::relative(path)).into_owned()
}
