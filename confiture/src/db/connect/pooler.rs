//! Whether something sits between us and the server, and refusing a transaction-pooling
//! pooler. Two ways to tell, the cheap one first:
//!
//! - [`is_direct`], pure: the server's end of our TCP connection (`inet_server_addr()`,
//!   `inet_server_port()`, read in the round trip `writable::check` makes anyway) is exactly
//!   the address and port we dialled. Nothing relays the connection then, so no pooler either.
//! - Otherwise (a pooler, NAT, a published container port, a Kubernetes service, a Unix
//!   socket, a session handed over by the caller), [`refuse_transaction_pooling`]: a second
//!   connection and a comparison of server sessions.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use super::Reached;
use crate::config::Environment;
use crate::error::{Error, Result};

/// Whether the connection dialled at `dialled` reaches the server with nothing in between:
/// `server_addr` and `server_port` are what the server answered for `inet_server_addr()` and
/// `inet_server_port()` (text; empty or absent over a Unix socket). True only when both are
/// exactly the address and port dialled (an IPv4 address and its IPv4-mapped IPv6 form are
/// the same address).
///
/// A pooler or proxy opens its own connection to the server, whose server end is the address
/// the *pooler* dialled: another port on the same machine, another address in another
/// container or behind NAT. Only a relay that dials the very address and port we dialled
/// would pass, which means one that intercepts traffic to the server's own address
/// (transparent proxying): that is documented as what this check does not see. Anything
/// unknown (no address dialled, no answer, an answer that does not parse) is not direct.
pub(crate) fn is_direct(
    dialled: Option<SocketAddr>,
    server_addr: Option<&str>,
    server_port: Option<&str>,
) -> bool {
    let (Some(dialled), Some(addr), Some(port)) = (dialled, server_addr, server_port) else {
        return false;
    };
    let (Ok(addr), Ok(port)) = (addr.parse::<IpAddr>(), port.parse::<u16>()) else {
        return false;
    };
    addr.to_canonical() == dialled.ip().to_canonical() && port == dialled.port()
}

/// Refuses a session that goes through a pooler in transaction (or statement) pooling mode
/// (a connection [`is_direct`] says reached the server itself is not asked this),
/// such as PgBouncer with `pool_mode = transaction`: between two transactions such a pooler
/// may hand our statements to another server session, so the session-level migration lock
/// and session settings would silently belong to somebody else. Called by the writing
/// commands before they take the lock; `session` is what [`SESSION_IDENTITY`] answered on
/// `client`, and `reached` the host it reached (the second connection goes to the same one;
/// `None`, a connection handed over: to the host a writing command would reach).
///
/// A pooler answers `SHOW pool_mode` only on its admin console, so the check is behavioural:
/// a second connection asks for its backend, then `client` asks again. Through session
/// pooling or directly, each connection keeps its own backend: the second one's differs and
/// `client`'s does not change. Through transaction pooling the idle server session `client`
/// just released is handed to the second connection (PgBouncer reuses the most recently used
/// one first), or `client` gets another. When the second connection gets no answer within
/// [`PROBE_WAIT`] (a connection limit, a full session pool), nothing can be told and nothing
/// is refused.
pub(crate) fn refuse_transaction_pooling(
    client: &mut postgres::Client,
    env: &Environment,
    reached: Option<&Reached>,
    session: &str,
) -> Result<()> {
    let Some(other_session) = other_server_session(env, reached) else {
        return Ok(());
    };
    let again = server_session(client)?;
    if other_session != session && again == session {
        return Ok(());
    }
    let pid = |s: &str| s.split(' ').next().unwrap_or_default().to_string();
    let spec = &env.connection;
    let then = if again != session {
        &again
    } else {
        &other_session
    };
    Err(Error::invalid(format!(
        "{spec} goes through a pooler in transaction or statement pooling mode (server \
         session {} served this connection, then {}); nothing was run",
        pid(session),
        pid(then)
    ))
    .with_detail(
        "such a pooler hands each transaction to any server session: the migration lock and \
         session settings would not stay with this connection",
    )
    .with_help(format!(
        "connect to PostgreSQL directly, or through a pool in session mode (PgBouncer: \
         pool_mode = session), in {}",
        env.source()
    )))
}

/// The longest the pooler check waits for its second connection's answer: a session pool
/// with no free server session keeps the second client waiting (PgBouncer: up to
/// `query_wait_timeout`).
const PROBE_WAIT: Duration = Duration::from_secs(5);

/// The server session a second connection gets, or `None` when it cannot be told in time
/// (refused, a connection limit, a full session pool). The thread that asks is left behind
/// on a timeout; its connection closes when it gets an answer.
fn other_server_session(env: &Environment, reached: Option<&Reached>) -> Option<String> {
    let wait = match env.migration.connect_timeout {
        timeout if timeout.is_zero() => PROBE_WAIT,
        timeout => timeout.min(PROBE_WAIT),
    };
    let (env, reached) = (env.clone(), reached.cloned());
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("confiture-pooler-check".to_string())
        .spawn(move || {
            let other = match &reached {
                Some(reached) => super::open_session_on(&env, reached).ok(),
                None => super::select(&env, super::Need::Write).ok(),
            };
            let session = other.and_then(|mut other| server_session(&mut other.client).ok());
            let _ = tx.send(session);
        })
        .ok()?;
    rx.recv_timeout(wait).ok().flatten()
}

/// Which server session runs a statement: its process id and the server's start time (a
/// process id alone may repeat on another server of a multi-host list), in microseconds as an
/// integer: a `float8`'s text depends on `extra_float_digits`, which a database or role may
/// set below 0, rounding two servers' start times to the same text.
pub(crate) const SESSION_IDENTITY: &str = "pg_catalog.pg_backend_pid()::text || ' ' || \
     ((pg_catalog.date_part('epoch', pg_catalog.pg_postmaster_start_time()) \
     OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8)::text";

fn server_session(client: &mut postgres::Client) -> Result<String> {
    let messages = client
        .simple_query(&crate::db::own_statements(&format!(
            "SELECT {SESSION_IDENTITY}"
        )))
        .map_err(|e| crate::db::query_error("cannot read the server session's process id", e))?;
    Ok(messages
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::is_direct;
    use std::net::SocketAddr;

    fn at(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("a socket address"))
    }

    #[test]
    fn the_address_and_port_dialled_is_direct() {
        assert!(is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1"),
            Some("5432")
        ));
        assert!(is_direct(
            at("10.1.2.3:6543"),
            Some("10.1.2.3"),
            Some("6543")
        ));
        assert!(is_direct(at("[::1]:5432"), Some("::1"), Some("5432")));
        assert!(is_direct(
            at("[2001:db8::7]:5432"),
            Some("2001:db8::7"),
            Some("5432")
        ));
    }

    #[test]
    fn an_ipv4_address_and_its_mapped_ipv6_form_are_the_same() {
        assert!(is_direct(
            at("127.0.0.1:5432"),
            Some("::ffff:127.0.0.1"),
            Some("5432")
        ));
        assert!(is_direct(
            at("[::ffff:10.0.0.9]:5432"),
            Some("10.0.0.9"),
            Some("5432")
        ));
    }

    #[test]
    fn a_pooler_on_another_port_of_the_same_machine_is_not_direct() {
        // PgBouncer on 6432 in front of the server on 5432, both on the loopback.
        assert!(!is_direct(
            at("127.0.0.1:6432"),
            Some("127.0.0.1"),
            Some("5432")
        ));
    }

    #[test]
    fn a_pooler_on_the_same_port_at_another_address_is_not_direct() {
        // Another container, NAT, a Kubernetes service: the server sees its own address.
        assert!(!is_direct(
            at("10.0.0.2:5432"),
            Some("10.0.0.3"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("10.96.0.10:5432"),
            Some("10.244.1.7"),
            Some("5432")
        ));
        assert!(!is_direct(at("127.0.0.1:5432"), Some("::1"), Some("5432")));
        assert!(!is_direct(
            at("[::1]:5432"),
            Some("127.0.0.1"),
            Some("5432")
        ));
    }

    #[test]
    fn another_host_of_a_multi_host_list_is_not_direct() {
        // The answer is compared with the host that answered, never with the list.
        assert!(!is_direct(
            at("192.0.2.1:5432"),
            Some("192.0.2.2"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("192.0.2.1:5432"),
            Some("192.0.2.1"),
            Some("5433")
        ));
    }

    #[test]
    fn what_is_not_known_is_not_direct() {
        // A Unix socket: nothing dialled over TCP, and the server answers NULL.
        assert!(!is_direct(None, None, None));
        assert!(!is_direct(None, Some("127.0.0.1"), Some("5432")));
        assert!(!is_direct(at("127.0.0.1:5432"), None, None));
        assert!(!is_direct(at("127.0.0.1:5432"), Some(""), Some("")));
        assert!(!is_direct(at("127.0.0.1:5432"), Some("127.0.0.1"), None));
        assert!(!is_direct(at("127.0.0.1:5432"), None, Some("5432")));
        // A network rather than a host address, garbage, a port out of range.
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1/8"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("localhost"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1"),
            Some("70000")
        ));
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1"),
            Some("-1")
        ));
    }
}
