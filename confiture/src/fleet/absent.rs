//! Which databases a fleet's list names on the environment's server that the server does not
//! have: read from its `pg_database` on one short session, so that a stale list of 100,000
//! names is answered in seconds, not by 100,000 connections refused one by one (each with a
//! second session asking for a close name). Each such target is still refused as its
//! connection would have been ([`crate::db::connect::absent_database`]: the same error, exit
//! code and SQLSTATE), one by one, in the list's order.
//!
//! The server's answer is a moment's: a database created while the fleet runs is one a target
//! must reach. So a name is taken for absent only from a read younger than [`FRESH`] when its
//! target starts, read again otherwise; a name the read has is reached as always (the
//! connection decides). The read goes through a session of its own, opened and closed for it,
//! by a target that holds no other connection then: the fleet never holds more connections
//! than `--jobs` targets do. An environment of several hosts is left to its connections, whose
//! refusal names each host's reason. When that session or its read fails (no `postgres` or
//! `template1` database this user may connect to, `pg_database` not readable), nothing is
//! decided here: every target connects, as before.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Environment;

/// How old a read of `pg_database` may be for a name it lacks to be taken for absent.
const FRESH: Duration = Duration::from_secs(1);

/// The longest the read waits for a lock another session holds on a catalog (a `VACUUM FULL
/// pg_database`): past it (or four times it on the server, `db::read_waiting`) the check ends,
/// never the fleet.
const READ_WAIT: Duration = Duration::from_millis(2_500);

/// The databases of one server, as its `pg_database` last said, shared by a command's targets
/// listed by name ([`super::Target::database`]: all on the environment's server).
#[derive(Debug, Default)]
pub(crate) struct ServerDatabases {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Unread,
    Read(Read),
    /// The read failed: every target connects.
    Unavailable,
}

#[derive(Debug)]
struct Read {
    at: Instant,
    all: HashSet<String>,
    /// Those that accept connections and are no templates (a close name's candidates).
    connectable: Vec<String>,
}

impl ServerDatabases {
    /// The refusal of `env`'s database (a target listed by name) when its server does not
    /// have it, as a connection would have been refused; `Ok` when it has it, or when that
    /// could not be read (the target connects, and its connection decides). A read is
    /// stopped by `stop` (the fleet's) as a connection is: the target is interrupted at once,
    /// never held for `connect_timeout` by a server that does not answer.
    pub(crate) fn check(
        &self,
        env: &Environment,
        stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> crate::Result<()> {
        if !env.connection.more_hosts.is_empty() {
            // Each host's answer is its own reason in the refusal of a host list (one refused
            // the connection, another lacks the database): only the connection tells them.
            return Ok(());
        }
        let name = &env.connection.dbname;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let stale = match &*state {
            State::Unavailable => return Ok(()),
            State::Unread => true,
            State::Read(read) => !read.all.contains(name) && read.at.elapsed() >= FRESH,
        };
        if stale {
            let env = env.clone();
            let interrupted =
                || crate::db::prefetch::interrupted_connecting(crate::plan::Effect::Runs);
            let read = crate::db::prefetch::unless_stopped(stop, interrupted, move || read(&env))?;
            *state = read.map_or(State::Unavailable, State::Read);
        }
        match &*state {
            State::Read(read) if !read.all.contains(name) => Err(
                crate::db::connect::absent_database(env, read.connectable.clone()),
            ),
            _ => Ok(()),
        }
    }
}

/// Every database of `env`'s server, read on a session of a maintenance database (`postgres`,
/// else `template1`) with `env`'s user, password and settings, closed once read; `None` when
/// none could be opened or the read failed.
fn read(env: &Environment) -> Option<Read> {
    for maintenance_db in crate::db::MAINTENANCE_DATABASES {
        let mut maintenance = env.clone();
        maintenance.connection.dbname = maintenance_db.to_string();
        let need = crate::db::connect::Need::Read;
        let mut session = match crate::db::connect::open_session_if_exists(&maintenance, need) {
            Ok(Some(session)) => session,
            Ok(None) => continue,
            Err(_) => return None,
        };
        let client = &mut session.client;
        let rows = crate::db::read_waiting(client, READ_WAIT, |tx| {
            tx.query(
                "SELECT datname, datallowconn AND NOT datistemplate FROM pg_catalog.pg_database",
                &[],
            )
        })
        .ok()?;
        let mut read = Read {
            at: Instant::now(),
            all: HashSet::with_capacity(rows.len()),
            connectable: Vec::new(),
        };
        for row in rows {
            let name: String = row.try_get(0).ok()?;
            if row.try_get::<_, bool>(1).ok()? {
                read.connectable.push(name.clone());
            }
            read.all.insert(name);
        }
        return Some(read);
    }
    None
}
