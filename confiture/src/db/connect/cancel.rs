//! The TLS connector of a cancel request ([`super::cancel_query`]): the session's own
//! ([`crate::db::tls::make_connect`]), over a socket whose shutdown waits for the server to
//! close the connection, as libpq's `PQcancel` waits.
//!
//! The server handles a cancel request in a process of its own, which signals the session's
//! backend and then exits, closing the connection: once it is closed, the backend was
//! signalled, and a statement the session sends after that is never cancelled by it (a signal
//! that finds the backend between statements is ignored). The driver writes the request and
//! shuts the stream down, and returns: a request the server gets to late then cancels
//! whatever the session runs next. Its stream goes through our connector when it is TLS,
//! and the connector's stream is where the wait goes: the TLS stream's shutdown sends its
//! `close_notify`, then shuts the socket down, which [`UntilClosed`] follows by reading the
//! socket until the server closes it. The caller bounds the whole request on a thread of its
//! own (`apply::stop`'s `CANCEL_WAIT`): a server that never closes is given up there.
//!
//! A plain TCP session's request goes through [`MakePlainCancel`] (its token asks for a
//! connector: `fatal::observed`), whose stream is the socket [`UntilClosed`]: it waits too. A
//! Unix socket's, or `prefer`'s to a server without TLS, never reaches a connector, and the
//! driver keeps the session's secret key to itself: its request is only written.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The session's TLS connector for a cancel request: its stream's shutdown returns once the
/// server closed the connection.
pub(super) struct MakeCancelConnect(pub(super) MakeRustlsConnect);

/// What the session's connector makes for a socket [`UntilClosed`].
type Inner = <MakeRustlsConnect as MakeTlsConnect<UntilClosed>>::TlsConnect;

impl MakeTlsConnect<Socket> for MakeCancelConnect {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<UntilClosed>>::Stream;
    type TlsConnect = CancelConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<UntilClosed>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<CancelConnect, Self::Error> {
        MakeTlsConnect::<UntilClosed>::make_tls_connect(&mut self.0, domain).map(CancelConnect)
    }
}

/// [`MakeCancelConnect`]'s connector of one request.
pub(super) struct CancelConnect(Inner);

impl TlsConnect<Socket> for CancelConnect {
    type Stream = <Inner as TlsConnect<UntilClosed>>::Stream;
    type Error = <Inner as TlsConnect<UntilClosed>>::Error;
    type Future = <Inner as TlsConnect<UntilClosed>>::Future;

    fn connect(self, stream: Socket) -> Self::Future {
        self.0.connect(UntilClosed {
            socket: stream,
            shut: false,
        })
    }
}

/// The connector of a plain TCP session's cancel request (`fatal::MakeFatalConnect::Plain`'s):
/// no TLS, the socket [`UntilClosed`].
pub(super) struct MakePlainCancel;

impl MakeTlsConnect<Socket> for MakePlainCancel {
    type Stream = UntilClosed;
    type TlsConnect = MakePlainCancel;
    type Error = std::convert::Infallible;

    fn make_tls_connect(&mut self, _: &str) -> Result<MakePlainCancel, Self::Error> {
        Ok(MakePlainCancel)
    }
}

impl TlsConnect<Socket> for MakePlainCancel {
    type Stream = UntilClosed;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<UntilClosed, std::convert::Infallible>>;

    fn connect(self, stream: Socket) -> Self::Future {
        std::future::ready(Ok(UntilClosed {
            socket: stream,
            shut: false,
        }))
    }
}

/// A plain socket binds no channel.
impl TlsStream for UntilClosed {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// A cancel request's socket, whose shutdown ends its writing side, then reads what the
/// server still sends (its own `close_notify`) until the server closes the connection.
pub(super) struct UntilClosed {
    socket: Socket,
    /// The writing side was shut down.
    shut: bool,
}

impl AsyncRead for UntilClosed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for UntilClosed {
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

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.shut {
            ready!(Pin::new(&mut this.socket).poll_shutdown(cx))?;
            this.shut = true;
        }
        let mut scratch = [0u8; 256];
        loop {
            let mut read = ReadBuf::new(&mut scratch);
            match ready!(Pin::new(&mut this.socket).poll_read(cx, &mut read)) {
                Ok(()) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Ok(()) => {}
                // Reset, or refused: closed all the same (as libpq takes any end of its read).
                Err(_) => return Poll::Ready(Ok(())),
            }
        }
    }
}
