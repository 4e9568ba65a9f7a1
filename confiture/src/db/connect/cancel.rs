//! A cancel request that ends when the server has acted on it, as libpq's `PQcancel` does.
//!
//! The driver's `CancelToken::cancel_query` writes the request, shuts its connection down and
//! returns: the server has not read it yet. The server acts on it later (it reads the
//! request, signals the session's backend, then closes the connection), and by then the
//! statement it was meant for may have ended on its own and the session have started the
//! next one, which the request then cancels instead (a no-transaction migration's ledger row,
//! the `ROLLBACK` after a cancelled migration). libpq waits for the server to close the
//! connection before `PQcancel` returns ("Without this delay, we might issue another command
//! only to find that our cancel zaps that command instead of the one we thought we were
//! canceling"); [`UntilClosed`] makes the driver's request wait alike: the shutdown of its
//! connection returns once the server has closed it.
//!
//! The driver hands its connector the socket only when the request goes over TLS, so a
//! request made without TLS (`sslmode=disable`, a Unix socket, a server that refused TLS) is
//! still not waited for.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::Socket;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The session's TLS connector, for a cancel request whose connection's shutdown waits for the
/// server to close it.
#[derive(Clone)]
pub(crate) struct UntilClosed(pub(crate) MakeRustlsConnect);

/// [`UntilClosed`]'s connector for one request.
pub(crate) struct ConnectUntilClosed(<MakeRustlsConnect as MakeTlsConnect<Closing>>::TlsConnect);

/// The request's socket: its shutdown ends our side, then reads (and drops) what the server
/// still sends until it closes the connection.
pub(crate) struct Closing {
    socket: Socket,
    /// Our side is shut down: what is left is the wait for the server's end.
    shut: bool,
}

impl MakeTlsConnect<Socket> for UntilClosed {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Closing>>::Stream;
    type TlsConnect = ConnectUntilClosed;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Closing>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<ConnectUntilClosed, Self::Error> {
        MakeTlsConnect::<Closing>::make_tls_connect(&mut self.0, domain).map(ConnectUntilClosed)
    }
}

impl TlsConnect<Socket> for ConnectUntilClosed {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Closing>>::Stream;
    type Error =
        <<MakeRustlsConnect as MakeTlsConnect<Closing>>::TlsConnect as TlsConnect<Closing>>::Error;
    type Future =
        <<MakeRustlsConnect as MakeTlsConnect<Closing>>::TlsConnect as TlsConnect<Closing>>::Future;

    fn connect(self, socket: Socket) -> Self::Future {
        self.0.connect(Closing {
            socket,
            shut: false,
        })
    }
}

impl AsyncRead for Closing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for Closing {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.socket).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_flush(cx)
    }

    /// Ends our side, then waits for the server's end: a read of nothing, or an error (a
    /// reset: the server closed with our `close_notify` unread).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.shut {
            match Pin::new(&mut self.socket).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => self.shut = true,
                other => return other,
            }
        }
        let mut scratch = [0u8; 256];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.socket).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
