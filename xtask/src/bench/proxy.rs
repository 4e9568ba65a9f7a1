//! A delaying TCP proxy on 127.0.0.1, to measure tools behind a network round trip: every chunk
//! is held for half the RTT in each direction (latency, not bandwidth: chunks in flight overlap).
//! Loopback only; it stops accepting when dropped or after its lifetime, and its connection
//! threads end when either side closes or the proxy stops.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on an ephemeral loopback port and forwards to `upstream` (which must be a
    /// loopback address too).
    pub fn start(upstream: SocketAddr, rtt: Duration, lifetime: Duration) -> Result<Proxy, String> {
        if !upstream.ip().is_loopback() {
            return Err(format!(
                "the delaying proxy forwards to loopback addresses only, not {upstream}"
            ));
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("proxy: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("proxy: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let deadline = Instant::now() + lifetime;
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(server) = TcpStream::connect(upstream) {
                            connect_pair(client, server, rtt / 2, flag.clone());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => break,
                }
            }
            flag.store(true, Ordering::Relaxed);
        });
        Ok(Proxy {
            port,
            stop,
            listener: Some(handle),
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.listener.take() {
            let _ = handle.join();
        }
    }
}

fn connect_pair(client: TcpStream, server: TcpStream, delay: Duration, stop: Arc<AtomicBool>) {
    for s in [&client, &server] {
        // Nagle would add its own delays on top of ours.
        let _ = s.set_nodelay(true);
        // Readers wake up now and then to notice that the proxy stopped.
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    }
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    pipe(client, server2, delay, stop.clone());
    pipe(server, client2, delay, stop);
}

/// Reads chunks from `from` and writes each to `to` once `delay` has passed since it arrived.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration, stop: Arc<AtomicBool>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = from.shutdown(Shutdown::Read);
        // Dropping `tx` tells the writer to finish what is in flight, then close.
    });
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
