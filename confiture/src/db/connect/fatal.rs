//! The session's connector — its TLS connector ([`crate::db::tls::make_connect`]), or none
//! over plain TCP —, whose stream reads the server's `FATAL` (or `PANIC`) as it goes by and
//! hands it to what collects the server's words ([`crate::db::notices::heard_fatal`]).
//!
//! The server ends a session with its reason — `terminating connection due to administrator
//! command` (57P01, `pg_terminate_backend`), an idle timeout — and closes the connection at
//! once. The driver reads both in one go: the error goes to the statement waiting for it,
//! and the end of the stream to the connection, whose error the synchronous driver returns
//! before the statement is polled again — the reason was lost ("the server closed the
//! connection without saying why") whenever a statement was running. Read here, under the
//! driver, it reaches the run's [`crate::db::notices::Collector`] first, and is the lost
//! connection's reason ([`crate::db::notices::session_end`], and for every error made of
//! the driver's, [`crate::db::notices::heard_end_of`]).
//!
//! A plain TCP connection (sslmode `disable`, the retry of `prefer` without TLS) goes through
//! the same stream ([`observed`]): the driver is told to open it "TLS" with no `SSLRequest`
//! (`sslnegotiation=direct`, `require`), and this connector's "handshake" is none at all —
//! the socket, as it is, under [`Heard`]. Still out of reach: a Unix socket (the driver opens
//! TLS only with a host name, and a socket path is none: the driver keeps that socket to
//! itself) and `prefer` to a server that does not offer TLS (the driver's own fallback, after
//! its `SSLRequest`). There the reason may still be lost.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use postgres::config::{SslMode, SslNegotiation};
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::Socket;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The session's connector, whose stream reads the server's `FATAL` ([`Heard`]): over TLS,
/// else over the plain TCP socket ([`observed`]).
#[derive(Clone)]
pub(super) enum MakeFatalConnect {
    /// The session's TLS connector ([`crate::db::tls::make_connect`]).
    Tls(MakeRustlsConnect),
    /// No TLS: the socket as it is, the driver set to ask for no `SSLRequest`.
    Plain,
}

/// The connector of a session `config` sets up, `tls` its TLS connector (its sslmode set on
/// `config` already), `unix` whether it goes through a Unix socket: the one place that
/// decides which sessions' streams read the server's `FATAL`. TLS, and plain TCP, whose
/// `config` is set to have the driver hand the socket to [`MakeFatalConnect::Plain`] without
/// an `SSLRequest`; `None` over a Unix socket (no host name: the driver opens no TLS there).
pub(super) fn observed(
    tls: Option<MakeRustlsConnect>,
    unix: bool,
    config: &mut postgres::Config,
) -> Option<MakeFatalConnect> {
    match (tls, unix) {
        (Some(tls), _) => Some(MakeFatalConnect::Tls(tls)),
        (None, true) => None,
        (None, false) => {
            config
                .ssl_mode(SslMode::Require)
                .ssl_negotiation(SslNegotiation::Direct);
            Some(MakeFatalConnect::Plain)
        }
    }
}

/// What the session's connector makes for its socket.
type Inner = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;

/// The session's TLS stream.
type InnerStream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

impl MakeTlsConnect<Socket> for MakeFatalConnect {
    type Stream = Heard<Stream>;
    type TlsConnect = FatalConnect;
    type Error = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<FatalConnect, Self::Error> {
        match self {
            MakeFatalConnect::Tls(tls) => {
                MakeTlsConnect::<Socket>::make_tls_connect(tls, domain).map(FatalConnect::Tls)
            }
            MakeFatalConnect::Plain => Ok(FatalConnect::Plain),
        }
    }
}

/// [`MakeFatalConnect`]'s connector of one session.
pub(super) enum FatalConnect {
    Tls(Inner),
    Plain,
}

impl TlsConnect<Socket> for FatalConnect {
    type Stream = Heard<Stream>;
    type Error = <Inner as TlsConnect<Socket>>::Error;
    type Future = Connecting;

    fn connect(self, stream: Socket) -> Connecting {
        match self {
            FatalConnect::Tls(tls) => Connecting::Tls(tls.connect(stream)),
            FatalConnect::Plain => Connecting::Plain(Some(stream)),
        }
    }
}

/// The handshake of [`FatalConnect`]: the session's TLS handshake, or none; its stream then
/// [`Heard`].
pub(super) enum Connecting {
    Tls(<Inner as TlsConnect<Socket>>::Future),
    Plain(Option<Socket>),
}

impl std::future::Future for Connecting {
    type Output = Result<Heard<Stream>, <Inner as TlsConnect<Socket>>::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let stream = match &mut *self {
            Connecting::Tls(handshake) => match Pin::new(handshake).poll(cx) {
                Poll::Ready(Ok(stream)) => Stream::Tls(Box::new(stream)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            },
            Connecting::Plain(socket) => match socket.take() {
                Some(socket) => Stream::Plain(socket),
                None => return Poll::Ready(Err(io::Error::other("polled after its end"))),
            },
        };
        Poll::Ready(Ok(Heard {
            stream,
            frame: Frame::default(),
        }))
    }
}

/// The socket under [`Heard`]: the session's TLS stream, or the plain TCP socket.
pub(super) enum Stream {
    /// Boxed: a TLS stream is over a kilobyte, a socket a few words.
    Tls(Box<InnerStream>),
    Plain(Socket),
}

/// The session's stream, reading the server's messages as the driver reads them.
pub(super) struct Heard<S> {
    stream: S,
    frame: Frame,
}

/// The longest error message body kept: a server's `FATAL` is a few hundred bytes.
const MAX_ERROR: usize = 64 * 1024;

/// Where the stream is in the server's messages: a tag and a length (5 bytes), then the body.
#[derive(Default)]
struct Frame {
    header: [u8; 5],
    /// Bytes of the header read.
    have: usize,
    /// Bytes of the body still to come.
    left: usize,
    /// The body of an error message (`E`) being read.
    error: Option<Vec<u8>>,
}

impl Frame {
    /// Follows `bytes`, the next the server sent; an error message ending among them whose
    /// severity is `FATAL` or `PANIC` is handed over.
    fn read(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.left == 0 {
                let take = (5 - self.have).min(bytes.len());
                self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
                self.have += take;
                bytes = &bytes[take..];
                if self.have == 5 {
                    let length = u32::from_be_bytes([
                        self.header[1],
                        self.header[2],
                        self.header[3],
                        self.header[4],
                    ]) as usize;
                    self.left = length.saturating_sub(4);
                    self.error = (self.header[0] == b'E' && self.left <= MAX_ERROR)
                        .then(|| Vec::with_capacity(self.left));
                    if self.left == 0 {
                        self.end();
                    }
                }
                continue;
            }
            let take = self.left.min(bytes.len());
            if let Some(body) = &mut self.error {
                body.extend_from_slice(&bytes[..take]);
            }
            self.left -= take;
            bytes = &bytes[take..];
            if self.left == 0 {
                self.end();
            }
        }
    }

    /// A message ended.
    fn end(&mut self) {
        self.have = 0;
        if let Some(body) = self.error.take() {
            if let Some(fatal) = fatal(&body) {
                crate::db::notices::heard_fatal(fatal);
            }
        }
    }
}

/// The error message `body` (its fields: a type byte, a text ending with a NUL, then a NUL),
/// when its severity ends the session: `FATAL` or `PANIC` (the non-localised `V`, else `S`).
fn fatal(body: &[u8]) -> Option<crate::db::notices::Notice> {
    let mut fields = Vec::new();
    let mut rest = body;
    while let Some((&kind, after)) = rest.split_first() {
        if kind == 0 {
            break;
        }
        let end = after.iter().position(|&b| b == 0)?;
        fields.push((kind, String::from_utf8_lossy(&after[..end]).into_owned()));
        rest = &after[end + 1..];
    }
    let field = |kind: u8| {
        fields
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.clone())
    };
    let severity = field(b'V').or_else(|| field(b'S'))?;
    if !matches!(severity.as_str(), "FATAL" | "PANIC") {
        return None;
    }
    Some(crate::db::notices::Notice {
        severity,
        message: field(b'M').unwrap_or_default(),
        detail: field(b'D'),
        hint: field(b'H'),
        code: field(b'C').map(|c| postgres::error::SqlState::from_code(&c)),
    })
}

impl<S: AsyncRead + Unpin> AsyncRead for Heard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            this.frame.read(&buf.filled()[before..]);
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Heard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Heard<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.stream.channel_binding()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Plain(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A plain socket binds no channel: SCRAM without channel binding, as over any plain
/// connection.
impl TlsStream for Stream {
    fn channel_binding(&self) -> ChannelBinding {
        match self {
            Stream::Tls(s) => s.channel_binding(),
            Stream::Plain(_) => ChannelBinding::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error message of `fields`, as the server sends it.
    fn error_message(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in fields {
            body.push(*kind);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut message = vec![b'E'];
        message.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        message.extend_from_slice(&body);
        message
    }

    #[test]
    fn a_fatal_is_read_whatever_the_cut_of_the_stream_and_an_error_is_not() {
        let mut stream = vec![b'C', 0, 0, 0, 9, b'S', b'E', b'T', 0, 0];
        stream.extend(error_message(&[
            (b'S', "ERROR"),
            (b'V', "ERROR"),
            (b'C', "22012"),
            (b'M', "division by zero"),
        ]));
        stream.extend(error_message(&[
            (b'S', "ВАЖНО"),
            (b'V', "FATAL"),
            (b'C', "57P01"),
            (b'M', "terminating connection due to administrator command"),
        ]));
        for cut in [1, 2, 3, 7, stream.len()] {
            let mut collector = crate::db::notices::Collector::new();
            collector.collect(|| {
                let mut frame = Frame::default();
                for chunk in stream.chunks(cut) {
                    frame.read(chunk);
                }
            });
            let heard = collector.take();
            assert_eq!(heard.len(), 1, "cut {cut}: {heard:?}");
            assert_eq!(heard[0].severity, "FATAL");
            assert_eq!(
                heard[0].message,
                "terminating connection due to administrator command"
            );
            assert_eq!(
                heard[0].code,
                Some(postgres::error::SqlState::ADMIN_SHUTDOWN)
            );
        }
    }
}
