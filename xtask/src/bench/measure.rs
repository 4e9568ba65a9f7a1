//! Timing whole processes (wall clock from spawn to exit, with a watchdog), peak memory, and
//! the statistics the table prints.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A command to run in `dir`, its output kept in `log_dir` for when it fails.
pub struct Job<'a> {
    pub command: Command,
    pub log_dir: &'a Path,
    pub label: &'a str,
    /// Exit codes that mean success (`status` exits 1 when migrations are pending, ...).
    pub ok_codes: &'a [i32],
}

/// Runs the job and returns its wall time. A run that outlives `timeout` is killed (by its pid,
/// which only this function started) and reported as a failure.
pub fn time_process(job: Job<'_>, timeout: Duration) -> Result<Duration, String> {
    let Job {
        mut command,
        log_dir,
        label,
        ok_codes,
    } = job;
    let stdout = log_dir.join(format!("{label}.stdout"));
    let stderr = log_dir.join(format!("{label}.stderr"));
    command
        .stdin(Stdio::null())
        .stdout(file(&stdout)?)
        .stderr(file(&stderr)?);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("{label}: cannot start {:?}: {e}", command.get_program()))?;
    let (done, watchdog) = watchdog(child.id(), timeout);
    let status = child.wait();
    let elapsed = start.elapsed();
    let _ = done.send(());
    let killed = watchdog.join().unwrap_or(false);
    let status = status.map_err(|e| format!("{label}: {e}"))?;
    if killed {
        return Err(format!(
            "{label}: killed after {} s (raise --timeout)",
            timeout.as_secs()
        ));
    }
    check_status(label, status, ok_codes, &stderr, &stdout)?;
    Ok(elapsed)
}

fn file(path: &Path) -> Result<fs::File, String> {
    fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn check_status(
    label: &str,
    status: ExitStatus,
    ok_codes: &[i32],
    stderr: &Path,
    stdout: &Path,
) -> Result<(), String> {
    if status.code().is_some_and(|c| ok_codes.contains(&c)) {
        return Ok(());
    }
    let tail = |p: &PathBuf| {
        let text = fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(6)..].join("\n    ")
    };
    Err(format!(
        "{label} exited with {status}\n    {}\n    {}\n    (full output in {})",
        tail(&stderr.to_path_buf()),
        tail(&stdout.to_path_buf()),
        stderr.display()
    ))
}

/// A thread that kills `pid` unless told within `timeout` that it exited. Returns whether it
/// killed.
fn watchdog(pid: u32, timeout: Duration) -> (mpsc::Sender<()>, std::thread::JoinHandle<bool>) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || match rx.recv_timeout(timeout) {
        Err(mpsc::RecvTimeoutError::Timeout) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            true
        }
        _ => false,
    });
    (tx, handle)
}

/// Peak resident memory (KiB) of a process: `/usr/bin/time -f %M` when present (the kernel's
/// ru_maxrss from wait4), else polling `/proc/<pid>/status` for VmHWM.
pub fn peak_rss_kib(mut job: Job<'_>, timeout: Duration) -> Result<u64, String> {
    let gnu_time = Path::new("/usr/bin/time");
    if gnu_time.exists() {
        let out = job.log_dir.join(format!("{}.rss", job.label));
        let program = job.command.get_program().to_owned();
        let args: Vec<_> = job.command.get_args().map(|a| a.to_owned()).collect();
        let mut wrapped = Command::new(gnu_time);
        wrapped.arg("-f").arg("%M").arg("-o").arg(&out).arg(program);
        wrapped.args(args);
        if let Some(dir) = job.command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        for (k, v) in job.command.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        job.command = wrapped;
        time_process(job, timeout)?;
        let text = fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        return text
            .lines()
            .rev()
            .find_map(|l| l.trim().parse().ok())
            .ok_or_else(|| format!("no peak memory in {}: {text}", out.display()));
    }
    // Polling sees VmHWM as of its last look, a lower bound that the kernel only raises.
    let Job {
        mut command, label, ..
    } = job;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{label}: {e}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let deadline = Instant::now() + timeout;
    let mut peak = 0;
    loop {
        if let Ok(text) = fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            return Ok(peak);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{label}: killed after {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Median, minimum and maximum of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Stats {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            runs: n,
        })
    }
}
