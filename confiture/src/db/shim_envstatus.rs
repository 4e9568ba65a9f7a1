//! TEMPORARY stand-ins for branch `envstatus` (`db::connect`, `Migrator::new`, `client`),
//! so `up`/`down` can be tested before that branch lands. Deleted on merge.

use std::path::PathBuf;

use postgres::{Client, NoTls};

use crate::config::Environment;
use crate::error::{Error, Result};
use crate::files::CheckOptions;
use crate::Migrator;

pub fn connect(env: &Environment) -> Result<Client> {
    let c = &env.connection;
    let mut config = postgres::Config::new();
    config
        .host(&c.host)
        .port(c.port)
        .user(&c.user)
        .dbname(&c.dbname)
        .application_name(&env.application_name)
        .connect_timeout(env.migration.connect_timeout)
        .options("-c client_connection_check_interval=1000");
    if let Some(p) = &c.password {
        config.password(p);
    }
    config
        .connect(NoTls)
        .map_err(|e| Error::connection(format!("cannot connect to {c}")).with_cause(e))
}

impl Migrator {
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
        }
    }

    pub(crate) fn client(&mut self) -> Result<&mut Client> {
        if self.client.is_none() {
            self.client = Some(connect(&self.env)?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| Error::connection("not connected"))
    }
}
