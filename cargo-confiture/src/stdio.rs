//! The standard descriptors the process was started with: one that was closed (`>&-`,
//! `2>&-`, `<&-`) is filled with `/dev/null` before anything else runs, and a closed stdout
//! is remembered ([`stdout_was_closed`]), so that a command with a result to write fails
//! (exit 74, [`crate::output::Output::settle`]) instead of losing it silently.
//!
//! Why so early: the kernel gives a new file the lowest free descriptor, so with fd 1 closed
//! the next file or socket the process opens (the PostgreSQL connection) would become its
//! stdout and receive its results. Rust's start-up code already fills a closed fd 0, 1 or 2
//! with `/dev/null` on most Unix systems, but silently: by `main`, a closed stdout can no
//! longer be told from `> /dev/null` (a result thrown away as asked). So this runs before
//! it, from the executable's initialisers (ELF `.init_array`, Mach-O `__mod_init_func`),
//! with std alone: `/dev/null` is opened until the descriptor it gets is above 2, each one at
//! or below 2 being a hole it now fills (what `open` promises: the lowest free number). No
//! `libc`, no `unsafe`. Where there is no such section (Windows), nothing is noted and std's
//! behaviour stands.
//!
//! The descriptors it opens are close-on-exec (std opens every file so): a process the CLI
//! starts (`cargo metadata`) finds the descriptor closed, as the CLI itself was given it.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether fd 1 was closed when the process started: set before `main`, read after.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether the process was started with its stdout closed (always `false` where that cannot
/// be known, and in a process that is not one of the CLI's executables).
pub fn stdout_was_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Fills each closed standard descriptor with `/dev/null`, noting a closed stdout. Runs once,
/// before `main`, on the only thread there is.
#[cfg(unix)]
extern "C" fn fill_closed_descriptors() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    // At most three holes: each pass fills one or ends.
    for _ in 0..3 {
        let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        else {
            return;
        };
        let fd = null.as_raw_fd();
        if fd > 2 {
            // No hole left: this one is closed again as it drops.
            return;
        }
        if fd == 1 {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        // Kept open for the life of the process: it is the hole's filling.
        let _ = null.into_raw_fd();
    }
}

/// The initialiser entry: the loader calls it before the runtime's start-up code and `main`.
#[cfg(unix)]
#[used]
#[cfg_attr(
    any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
        target_os = "illumos",
        target_os = "solaris"
    ),
    link_section = ".init_array"
)]
#[cfg_attr(
    any(target_os = "macos", target_os = "ios"),
    link_section = "__DATA,__mod_init_func"
)]
static FILL_CLOSED_DESCRIPTORS: extern "C" fn() = fill_closed_descriptors;
