//! Reading a file the user named (an environment file, a `.env`, a fleet's target list, a TLS
//! file, a `Cargo.toml`): bounded, so that `/dev/zero` or a pipe that never ends is refused
//! instead of read until memory runs out, and a pipe or a device (`-c <(sops -d f.yaml)`) read
//! on a helper thread and given up after a wait. The one owner of those rules.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long a pipe or a device given as an environment file may take to reach its end: long
/// enough for `sops -d` to ask a key service, short enough that a FIFO nobody writes to is
/// reported instead of waited on forever.
pub const STREAM_WAIT: Duration = Duration::from_secs(30);

/// Whether a file of this type is read as a stream, on a helper thread: a FIFO or a
/// character device (`/dev/stdin`, a terminal).
#[cfg(unix)]
pub(super) fn is_stream(kind: &std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    kind.is_fifo() || kind.is_char_device()
}

#[cfg(not(unix))]
pub(super) fn is_stream(_: &std::fs::FileType) -> bool {
    false
}

#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    /// Nothing reached the end of the stream within the wait.
    TimedOut,
    /// The flag given to [`stop_reading_when`] was set (Ctrl-C) while the stream was waited on.
    Interrupted,
    /// It holds more than the limit [`read_user_file`] was given (`/dev/zero`, a pipe that
    /// never ends, a file that is not what the user meant): what was read is dropped.
    TooLarge,
}

/// The flag that ends the wait on a pipe or a device at once ([`read_user_file`]), set by
/// whoever owns the process's signals (the CLI's Ctrl-C flag, the one it gives
/// `Migrator::stop_when`). A library installs no signal handler; it only watches a flag.
static STOP_READING: std::sync::Mutex<Option<Arc<AtomicBool>>> = std::sync::Mutex::new(None);

/// How often a wait on a stream looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Makes every later wait on a pipe or a device given as an environment file, a `.env` file
/// or a fleet's target list end at once, as interrupted ([`crate::ErrorKind::Interrupted`],
/// exit 130), when `flag` is set: a hung secret manager's pipe is not waited on for
/// [`STREAM_WAIT`] after Ctrl-C. Replaces the flag given before.
pub fn stop_reading_when(flag: Arc<AtomicBool>) {
    *STOP_READING.lock().unwrap_or_else(|p| p.into_inner()) = Some(flag);
}

#[cfg(feature = "env-files")]
/// The flag given to [`stop_reading_when`]: what also ends a wait, before the run has its
/// database or its fleet, on the connection that lists the fleet's targets.
pub(crate) fn stop_flag() -> Option<Arc<AtomicBool>> {
    STOP_READING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Whether the flag of [`stop_reading_when`] is set.
fn stop_requested() -> bool {
    STOP_READING
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// The error of a read of `what` (`environment file x.yaml`, `target list t.txt`) that
/// [`ReadError::Interrupted`] ended: kind `interrupted`, nothing was read nor done.
pub(crate) fn read_interrupted(what: &str) -> Error {
    Error::new(
        crate::ErrorKind::Interrupted,
        format!(
            "interrupted while waiting for {what} (a pipe or a device) to reach its end: it \
             was not read, and nothing was done"
        ),
    )
}

/// A file the user named that may be a pipe (an environment file, a fleet's target list, a
/// `.env`, a TLS file, a manifest), refused as [`ReadError::TooLarge`] past `limit` bytes (read
/// up to one byte more, never to its end): a FIFO or a character device
/// (`<(sops -d f.yaml)`, `/dev/stdin`) is read on a helper thread and given up after `wait`
/// ([`STREAM_WAIT`]), since opening and reading one block until something writes to it, maybe
/// never; anything else is read directly (its errors are the caller's to word).
pub(crate) fn read_user_file(
    path: &Path,
    limit: u64,
    wait: Duration,
) -> Result<Vec<u8>, ReadError> {
    let stream = std::fs::metadata(path).is_ok_and(|meta| is_stream(&meta.file_type()));
    let bytes = if stream {
        read_stream(path, limit, wait)?
    } else {
        read_capped(path, limit).map_err(ReadError::Io)?
    };
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}

#[cfg(feature = "env-files")]
/// Where the relative paths written in the file at `path` start: its directory, or the
/// current directory (empty) for a pipe or a device (`/dev/fd/63` has no directory of its
/// own); `stream`: it is one ([`is_stream`]). The one rule for an environment file and a
/// target list.
pub(crate) fn relative_base(path: &Path, stream: bool) -> &Path {
    if stream {
        Path::new("")
    } else {
        path.parent().unwrap_or(Path::new(""))
    }
}

#[cfg(feature = "env-files")]
/// [`relative_base`] of the file at `path`, about to be read by [`read_user_file`] (which
/// tells a pipe or a device the same way).
pub(crate) fn relative_base_of(path: &Path) -> &Path {
    let stream = std::fs::metadata(path).is_ok_and(|meta| is_stream(&meta.file_type()));
    relative_base(path, stream)
}

/// [`read_capped`] on a helper thread, given up after `wait`, or at once when the flag of
/// [`stop_reading_when`] is set: a FIFO blocks opening until a writer opens it, and reading
/// until the writer closes it. A thread given up on stays blocked until then (or until the
/// process ends); it holds nothing else.
pub(super) fn read_stream(path: &Path, limit: u64, wait: Duration) -> Result<Vec<u8>, ReadError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("environment-file".into())
        .spawn(move || {
            // The receiver is gone when the wait is over: nothing to tell then.
            let _ = sender.send(read_capped(&owned, limit));
        })
        .map_err(ReadError::Io)?;
    let deadline = Instant::now() + wait;
    loop {
        if stop_requested() {
            return Err(ReadError::Interrupted);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left.min(STOP_POLL)) {
            Ok(read) => return read.map_err(ReadError::Io),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
            Err(_) => return Err(ReadError::TimedOut),
        }
    }
}

/// At most `limit + 1` bytes of `path`: enough to tell that it is too large.
fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
