//! Connecting while the migrations are read. The handshake (TCP, startup, authentication, the
//! server starting a backend) is mostly waiting, and reading and checking the directory is
//! mostly this process's own work: neither needs the other, so `up` and `status` do both at
//! once. [`Ahead::start_then`] opens the connection on a thread of its own; the command reads its
//! files meanwhile and takes the connection with [`Ahead::wait`] only once the files have
//! passed. A command that the files (or its options) refuse drops the [`Ahead`] unused: the
//! refusal still comes first and alone, and the thread closes the connection it opened.
//!
//! It can also run a read-only first query on that thread once connected
//! (`status` reads the ledger there): its round trip and the server's work overlap the files
//! too. Its result, error included, is only looked at after the files have passed, so what a
//! command reports, and in which order, is what it would be with one done after the other.

use std::thread::JoinHandle;

use postgres::Client;

use super::connect::Session;
use crate::config::Environment;
use crate::error::Result;

/// A connection being opened on another thread, and what `then` made of it once open.
pub(crate) struct Ahead<T> {
    handle: JoinHandle<Result<(Session, Result<T>)>>,
}

impl<T: Send + 'static> Ahead<T> {
    /// Starts connecting to `env`'s database ([`super::connect`], the same rules and errors),
    /// then runs `then` on the new connection, on the same thread (`|_| Ok(())` to only
    /// connect). `then` must only read: it runs before the caller has decided anything.
    /// `None` when no thread can be started: the caller then connects as usual.
    pub(crate) fn start_then(
        env: &Environment,
        then: impl FnOnce(&mut Client) -> Result<T> + Send + 'static,
    ) -> Option<Ahead<T>> {
        let env = env.clone();
        std::thread::Builder::new()
            .name("confiture-connect".to_string())
            .spawn(move || {
                let mut session =
                    super::connect::open_session(&env, env.connection.target_session_attrs)?;
                let value = then(&mut session.client);
                Ok((session, value))
            })
            .ok()
            .map(|handle| Ahead { handle })
    }

    /// The connection (with the address it was dialled at), or why there is none (what
    /// [`super::connect`] returned), with what `then` returned on it.
    pub(crate) fn wait(self) -> Result<(Session, Result<T>)> {
        self.handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_connection_that_fails_is_the_connect_error() {
        // Port 1 on the loopback: refused at once, no server needed.
        let env = Environment::from_url("postgresql://nobody@127.0.0.1:1/none", "TEST_URL")
            .expect("a valid URL");
        let direct = super::super::connect(&env).map(|_| ()).unwrap_err();
        let ahead = Ahead::start_then(&env, |_| Ok(()))
            .expect("a thread")
            .wait()
            .map(|_| ())
            .unwrap_err();
        assert_eq!(ahead.kind, ErrorKind::Connection);
        assert_eq!(ahead.to_string(), direct.to_string());
    }
}
