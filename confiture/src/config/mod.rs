//! Environments: which database, with which settings. Reads `<environments_dir>/<env>.yaml`
//! (confiture's format), expands `${VAR}`, applies the documented precedence, and describes
//! the connection without its password.
//!
//! # Which database
//!
//! The first of these that is present wins ([`resolve`]):
//!
//! 1. `--database-url URL`;
//! 2. `--env NAME` (`<environments_dir>/NAME.yaml`) or `-c FILE`;
//! 3. the `CONFITURE_DATABASE_URL` environment variable;
//! 4. the default environment file (`default_env`, normally `local`), if it exists;
//! 5. the `DATABASE_URL` environment variable.
//!
//! An explicit file (2) together with a `CONFITURE_DATABASE_URL` that names another database
//! is an error: we never guess which one was meant. Empty variables count as unset.
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
//!   lock_retries: 3                    # default 3
//! ```
//!
//! Durations are a whole number with a unit (`ms`, `s`, `min` or `m`, `h`); a plain number is
//! milliseconds, as in PostgreSQL's own `lock_timeout`. (A `connect_timeout` query parameter
//! in a URL keeps libpq's meaning: whole seconds.) Every duration is at most 2147483647 ms
//! (`596h`), the limit of PostgreSQL's timeout settings ([`Timeout`]). When a URL and the file both set
//! `application_name` or `connect_timeout`, the URL wins, so the URL behaves as it does in psql.
//!
//! `${VAR}` and `${VAR:-default}` are expanded in the values this tool reads (not in keys that
//! only confiture's other features use); `$$` is a literal `$`. Keys of confiture's other
//! features (`include_dirs`, `build`, `seed`, `ssh_tunnel`, `name`, ...) are ignored. Under
//! `migration:` and `database:`, an unknown key that is close to one we know is reported as a
//! misspelling; other unknown keys are left to confiture (Python), which shares the file.

mod connection;
mod environment;
mod expand;
mod file;
mod params;
mod resolve;
mod suggest;
mod syntax;
mod timeout;

use std::path::Path;

pub use connection::{
    shown, ConnectionSpec, SslMode, DEFAULT_APPLICATION_NAME, DEFAULT_HOST, DEFAULT_PORT,
    DEFAULT_USER,
};
pub use environment::{process_vars, Environment, MigrationSettings, Origin, Selection};
pub use file::{MAX_FILE_BYTES, MAX_FLOW_OPENERS};
pub use resolve::{list_environments, resolve};
pub use syntax::MAX_NAME_BYTES;
pub use timeout::{Timeout, TimeoutError};

/// A path as the user would type it: relative to the current directory (`../db/...` from a
/// subdirectory); the one rule is [`crate::display::relative_to`].
fn display_path(path: &Path) -> String {
    match std::env::current_dir() {
        Ok(cwd) => crate::display::relative_to(path, &cwd)
            .display()
            .to_string(),
        Err(_) => path.display().to_string(),
    }
}
