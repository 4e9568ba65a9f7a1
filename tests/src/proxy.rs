//! A TCP proxy to the test server that can cut only the client's side of its connections:
//! what a NAT, a load balancer or a proxy restart does, and what the client's own
//! `TCP_USER_TIMEOUT` does after a partition that heals. The server's side stays open, so the
//! server session goes on with what it was sent.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The proxy, listening on `127.0.0.1:port()` and forwarding to the test server.
pub struct ClientCutProxy {
    port: u16,
    clients: Arc<Mutex<Vec<TcpStream>>>,
    cut: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    new_frozen: Arc<AtomicBool>,
}

impl ClientCutProxy {
    pub fn start() -> ClientCutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        let port = listener.local_addr().expect("the proxy's port").port();
        let clients: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let kept = clients.clone();
        let cut = Arc::new(AtomicBool::new(false));
        let seen = cut.clone();
        let frozen = Arc::new(AtomicBool::new(false));
        let stopped = frozen.clone();
        let new_frozen = Arc::new(AtomicBool::new(false));
        let new_stopped = new_frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if stopped.load(Ordering::SeqCst) || new_stopped.load(Ordering::SeqCst) {
                    // Accepted (the kernel would have) and never read.
                    kept.lock().unwrap().push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect((crate::pg_host().as_str(), crate::pg_port()))
                else {
                    continue;
                };
                let (Ok(client_in), Ok(client_out), Ok(server_in), Ok(server_out)) = (
                    client.try_clone(),
                    client.try_clone(),
                    server.try_clone(),
                    server.try_clone(),
                ) else {
                    continue;
                };
                kept.lock().unwrap().push(client);
                // Client to server: never forwards an end of stream, so that a cut client
                // leaves the server's side open.
                let (one, other) = (seen.clone(), seen.clone());
                let (one_frozen, other_frozen) = (stopped.clone(), stopped.clone());
                std::thread::spawn(move || pump(client_in, server_out, &one, &one_frozen));
                // Server to client: once the client's side is cut, what the server sends is
                // read and dropped (the server never blocks on a full socket).
                std::thread::spawn(move || pump(server_in, client_out, &other, &other_frozen));
                // The server's side lives as long as its pumps.
                drop(server);
            }
        });
        ClientCutProxy {
            port,
            clients,
            cut,
            frozen,
            new_frozen,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops forwarding, both ways, on every connection, as a pooler whose process is frozen
    /// does while its kernel still accepts and acknowledges: what arrives is held, never
    /// passed on, and a new connection is accepted and never read. Nothing is closed.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Serves the connections so far as before, but accepts each new one and never reads it:
    /// a pooler with no free server connection, or a listener whose process stopped
    /// accepting, to a cancel request made on a connection of its own.
    pub fn freeze_new(&self) {
        self.new_frozen.store(true, Ordering::SeqCst);
    }

    /// Closes the client's side of every connection so far; the server's sides stay open.
    pub fn cut_clients(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for client in self.clients.lock().unwrap().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` until `from` ends, then ends `to` — unless the clients were `cut`: the
/// server's side is then kept open. A failed write drops the rest (read and dropped). Once
/// `frozen`, what is read is held and the pump parks: nothing more is forwarded or closed.
fn pump(mut from: TcpStream, mut to: TcpStream, cut: &AtomicBool, frozen: &AtomicBool) {
    let mut buffer = [0u8; 65536];
    let mut writing = true;
    loop {
        let read = from.read(&mut buffer);
        if frozen.load(Ordering::SeqCst) {
            loop {
                std::thread::park();
            }
        }
        match read {
            Ok(0) | Err(_) => {
                if !cut.load(Ordering::SeqCst) {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
                // Keeps the server's side open: parked until the test ends.
                loop {
                    std::thread::park();
                }
            }
            Ok(n) => {
                if writing && to.write_all(&buffer[..n]).is_err() {
                    writing = false;
                }
            }
        }
    }
}

impl ClientCutProxy {
    /// A URL for `db` through the proxy (no TLS: the proxy cuts plain TCP).
    pub fn url(&self, db: &str) -> String {
        url_through(self.port, db)
    }
}

/// A URL for `db` through a proxy listening on `port` (no TLS).
fn url_through(port: u16, db: &str) -> String {
    let server = crate::server();
    let password = server
        .password
        .as_deref()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "postgresql://{}{password}@127.0.0.1:{port}/{db}?sslmode=disable",
        server.user
    )
}

/// A proxy to the test server that rewrites the `options` parameter of each connection's
/// startup packet (a pooler or proxy that filters startup options: keeps some, drops others),
/// then forwards both ways untouched. `rewrite` is given the options sent (`None` when none
/// were) and returns those to send on (`None`: the parameter left out). Plain TCP only: a
/// TLS request is answered "no" (the client goes on in plain text or gives up).
pub struct OptionsProxy {
    port: u16,
}

/// How an [`OptionsProxy`] rewrites the `options` of a startup packet.
type Rewrite = dyn Fn(Option<&str>) -> Option<String> + Send + Sync;

impl OptionsProxy {
    pub fn start(
        rewrite: impl Fn(Option<&str>) -> Option<String> + Send + Sync + 'static,
    ) -> OptionsProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy's port");
        let port = listener.local_addr().expect("the proxy's port").port();
        let rewrite: Arc<Rewrite> = Arc::new(rewrite);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let rewrite = rewrite.clone();
                std::thread::spawn(move || {
                    let _ = relay_rewritten(client, &*rewrite);
                });
            }
        });
        OptionsProxy { port }
    }

    /// A proxy that passes the startup options on with setting `name` given `value` instead
    /// of the one sent (and added when none was): a proxy rewriting the startup packet, or
    /// what a pooler's `connect_query` or a role's settings leave a session with.
    pub fn changing(name: &'static str, value: &'static str) -> OptionsProxy {
        OptionsProxy::start(move |options| {
            let words: Vec<&str> = options.unwrap_or_default().split_whitespace().collect();
            let mut out: Vec<String> = Vec::new();
            let mut i = 0;
            while i < words.len() {
                match (words[i], words.get(i + 1)) {
                    ("-c", Some(setting)) if setting.split('=').next() == Some(name) => i += 2,
                    (word, _) => {
                        out.push(word.to_string());
                        i += 1;
                    }
                }
            }
            out.push(format!("-c {name}={value}"));
            Some(out.join(" "))
        })
    }

    /// A URL for `db` through the proxy (no TLS).
    pub fn url(&self, db: &str) -> String {
        url_through(self.port, db)
    }
}

/// One connection of [`OptionsProxy`]: its startup packet rewritten, then both ways pumped.
fn relay_rewritten(mut client: TcpStream, rewrite: &Rewrite) -> std::io::Result<()> {
    let packet = loop {
        let mut len = [0u8; 4];
        client.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        client.read_exact(&mut body)?;
        // SSLRequest or GSSENCRequest: refused, the startup packet follows.
        if body.len() == 4
            && matches!(
                &body[..],
                [0x04, 0xd2, 0x16, 0x2f] | [0x04, 0xd2, 0x16, 0x30]
            )
        {
            client.write_all(b"N")?;
            continue;
        }
        break body;
    };
    let (version, mut rest) = packet.split_at(4);
    let mut params: Vec<(String, String)> = Vec::new();
    while let Some(end) = rest.iter().position(|b| *b == 0).filter(|end| *end > 0) {
        let key = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 1..];
        let vend = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
        let value = String::from_utf8_lossy(&rest[..vend]).into_owned();
        rest = rest.get(vend + 1..).unwrap_or_default();
        params.push((key, value));
    }
    let sent = params
        .iter()
        .find(|(k, _)| k == "options")
        .map(|(_, v)| v.clone());
    params.retain(|(k, _)| k != "options");
    if let Some(options) = rewrite(sent.as_deref()) {
        params.push(("options".to_string(), options));
    }
    let mut out = version.to_vec();
    for (key, value) in &params {
        out.extend(key.as_bytes());
        out.push(0);
        out.extend(value.as_bytes());
        out.push(0);
    }
    out.push(0);
    let mut packet = ((out.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(out);
    let mut server = TcpStream::connect((crate::pg_host().as_str(), crate::pg_port()))?;
    server.write_all(&packet)?;
    let (client_out, server_in) = (client.try_clone()?, server.try_clone()?);
    let never = Arc::new(AtomicBool::new(false));
    let other = never.clone();
    std::thread::spawn(move || pump(server_in, client_out, &other, &AtomicBool::new(false)));
    pump(client, server, &never, &AtomicBool::new(false));
    Ok(())
}
