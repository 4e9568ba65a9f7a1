//! Who answers on a port, asked only after a connection failed in a way the driver does not
//! tell apart: it reads any first byte other than `S` in answer to its TLS request as "no TLS"
//! (`server does not support TLS` under `sslmode=require`), and another service's bytes after
//! its startup packet as a broken stream. One TLS request (PostgreSQL's `SSLRequest`, 8
//! bytes) on a plain TCP socket, one byte read: `S` or `N` is PostgreSQL's answer (`E` a
//! server that could not start a session), anything else is not PostgreSQL speaking.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// PostgreSQL's `SSLRequest`: its length (8) and the code 80877103 (1234 << 16 | 5679).
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// The longest the probe waits to connect, and then for its byte.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a port answered to PostgreSQL's TLS request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SslAnswer {
    /// `S`: the server offers TLS.
    Tls,
    /// `N`: a PostgreSQL server (or pooler) without TLS.
    NoTls,
    /// `E`: an error message instead, from a server that could not start a session for the
    /// connection (libpq: "server sent an error response during SSL exchange").
    ServerError,
    /// Any other first byte: not PostgreSQL's protocol.
    NotPostgres(u8),
}

impl SslAnswer {
    fn of(byte: u8) -> SslAnswer {
        match byte {
            b'S' => SslAnswer::Tls,
            b'N' => SslAnswer::NoTls,
            b'E' => SslAnswer::ServerError,
            other => SslAnswer::NotPostgres(other),
        }
    }
}

/// What `address` answers to a TLS request, within `timeout` (at most [`PROBE_TIMEOUT`],
/// which a zero `timeout` means) for the connection and as much again for the byte; `None`
/// when it cannot be connected to, closes without a byte, or stays silent.
pub(super) fn ssl_answer(address: SocketAddr, timeout: Duration) -> Option<SslAnswer> {
    let timeout = if timeout.is_zero() {
        PROBE_TIMEOUT
    } else {
        timeout.min(PROBE_TIMEOUT)
    };
    let mut socket = TcpStream::connect_timeout(&address, timeout).ok()?;
    socket.set_read_timeout(Some(timeout)).ok()?;
    socket.set_write_timeout(Some(timeout)).ok()?;
    socket.write_all(&SSL_REQUEST).ok()?;
    let mut byte = [0u8];
    socket.read_exact(&mut byte).ok()?;
    Some(SslAnswer::of(byte[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_postgresql_s_ssl_request() {
        let code = u32::from_be_bytes(SSL_REQUEST[4..].try_into().unwrap());
        assert_eq!(code, (1234 << 16) | 5679);
        assert_eq!(u32::from_be_bytes(SSL_REQUEST[..4].try_into().unwrap()), 8);
    }

    #[test]
    fn only_s_n_and_e_are_postgresql_answers() {
        assert_eq!(SslAnswer::of(b'S'), SslAnswer::Tls);
        assert_eq!(SslAnswer::of(b'N'), SslAnswer::NoTls);
        assert_eq!(SslAnswer::of(b'E'), SslAnswer::ServerError);
        for byte in [b'H', b's', b'n', 0, 0x16, 0xff] {
            assert_eq!(SslAnswer::of(byte), SslAnswer::NotPostgres(byte));
        }
    }
}
