//! Connecting while the migrations are read. The handshake (TCP, startup, authentication, the
//! server starting a backend) is mostly waiting, and reading and checking the directory is
//! mostly this process's own work: neither needs the other, so `up` and `status` do both at
//! once. [`Ahead::start`] opens the connection on a thread of its own; the command reads its
//! files meanwhile and takes the connection with [`Ahead::wait`] only once the files have
//! passed. A command that the files (or its options) refuse drops the [`Ahead`] unused: the
//! refusal still comes first and alone, and the thread closes the connection it opened.

use std::thread::JoinHandle;

use super::connect::Session;
use crate::config::Environment;
use crate::error::Result;

/// A connection being opened on another thread.
pub(crate) struct Ahead {
    handle: JoinHandle<Result<Session>>,
}

impl Ahead {
    /// Starts connecting to `env`'s database ([`super::connect`], the same rules and errors).
    /// `None` when no thread can be started: the caller then connects as usual.
    pub(crate) fn start(env: &Environment) -> Option<Ahead> {
        let env = env.clone();
        std::thread::Builder::new()
            .name("confiture-connect".to_string())
            .spawn(move || super::connect::open_session(&env, env.connection.target_session_attrs))
            .ok()
            .map(|handle| Ahead { handle })
    }

    /// The connection (with the address it was dialled at), or why there is none: what
    /// [`super::connect`] returned.
    pub(crate) fn wait(self) -> Result<Session> {
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
        let ahead = Ahead::start(&env)
            .expect("a thread")
            .wait()
            .map(|_| ())
            .unwrap_err();
        assert_eq!(ahead.kind, ErrorKind::Connection);
        assert_eq!(ahead.to_string(), direct.to_string());
    }
}
