//! The workloads on one database (apply, create, rtt, status, lint, memory, verify) and
//! process start: each tool as a whole process, runs interleaved, each run checked.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::measure::{self, Job, Stats};
use super::pg::{self, Db};
use super::report::thousands;
use super::tools::{self, Action, Layout, Target, Tool};
use super::workload::{self, Migration};
use super::{proxy, Bench, Row, Section};

impl Bench {
    fn target<'a>(&'a self, db: &'a Db, url: &'a str, port: u16) -> Target<'a> {
        Target {
            url,
            host: &self.options.server.host,
            port,
            user: &self.options.server.user,
            dbname: &db.name,
        }
    }

    /// Runs every tool `runs` times, interleaved, each run on a fresh database, optionally
    /// behind a delaying proxy. Each run is checked: the workload's rows must be there.
    pub(super) fn apply(
        &self,
        key: &str,
        title: &str,
        migrations: &[Migration],
        tools: &[Tool],
        check: (&str, u64),
        rtt: Option<Duration>,
    ) -> Result<Section, String> {
        let o = &self.options;
        let dir = self.work.join(key);
        let mut layouts = BTreeMap::new();
        for &tool in tools {
            layouts.insert(
                tool,
                tools::write_layout(tool, &dir.join(tool.key()), migrations)?,
            );
        }
        let floor = pg::floor_message(migrations);
        let proxy = rtt.map(|rtt| self.proxy(rtt)).transpose()?;
        let port = proxy.as_ref().map_or(o.server.port, |p| p.port);
        let mut samples: BTreeMap<Tool, Vec<f64>> = BTreeMap::new();
        let mut notes: BTreeMap<Tool, String> = BTreeMap::new();
        for run in 0..o.runs {
            for &tool in tools {
                if notes.contains_key(&tool) {
                    continue;
                }
                let db = o.server.fresh_db()?;
                let outcome = match tool {
                    Tool::Floor => pg::run_floor(&db, port, &floor),
                    _ => match self.apply_once(tool, &db, port, &layouts[&tool], run)? {
                        Some(outcome) => outcome,
                        None => continue,
                    },
                }
                .and_then(|elapsed| {
                    let found = db.count(check.0)?;
                    if found != check.1 {
                        return Err(format!(
                            "{tool} exited 0 but left {found} rows instead of {} ({})",
                            check.1, check.0
                        ));
                    }
                    Ok(elapsed)
                });
                match outcome {
                    Ok(elapsed) => {
                        let ms = elapsed.as_secs_f64() * 1000.0;
                        eprintln!(
                            "  {key:<12} run {}/{}  {tool:<20} {ms:>10.1} ms",
                            run + 1,
                            o.runs
                        );
                        samples.entry(tool).or_default().push(ms);
                        if elapsed > o.slow && run + 1 < o.runs {
                            notes
                                .insert(tool, format!("slower than {} s: 1 run", o.slow.as_secs()));
                        }
                    }
                    Err(e) => {
                        eprintln!("  {key:<12} {tool}: FAILED: {e}");
                        notes.insert(tool, "failed (see stderr above)".to_string());
                    }
                }
            }
        }
        let mut section = Section::new(key, title, Some(Tool::Floor));
        for &tool in tools {
            section.rows.push(Row {
                tool: tool.to_string(),
                stats: samples.get(&tool).and_then(|s| Stats::of(s)),
                note: notes.remove(&tool).unwrap_or_default(),
            });
        }
        drop(proxy);
        Ok(section)
    }

    /// A delaying proxy in front of the server: `rtt` for every round trip.
    fn proxy(&self, rtt: Duration) -> Result<proxy::Proxy, String> {
        let o = &self.options;
        let upstream = format!("{}:{}", o.server.host, o.server.port);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&upstream)
            .map_err(|e| format!("{upstream}: {e}"))?
            .next()
            .ok_or(format!("{upstream}: no address"))?;
        proxy::Proxy::start(addr, rtt, o.timeout * 20)
    }

    /// One timed run of `tool` applying its layout to `db` (through `port`); `None` when the
    /// tool has no such command.
    fn apply_once(
        &self,
        tool: Tool,
        db: &Db,
        port: u16,
        layout: &Layout,
        run: usize,
    ) -> Result<Option<Result<Duration, String>>, String> {
        if tool == Tool::Psql {
            // The script writes the floor's rows into the floor's table.
            db.client()?
                .batch_execute(pg::LEDGER_DDL)
                .map_err(|e| format!("ledger table: {e}"))?;
        }
        let url = db.url(port);
        let target = self.target(db, &url, port);
        let Some(command) =
            tools::invocation(&self.installed, tool, layout, &target, Action::Apply)?
        else {
            return Ok(None);
        };
        let label = format!("{}-run{run}", tool.key());
        Ok(Some(measure::time_process(
            Job {
                command,
                log_dir: &layout.root,
                label: &label,
                ok_codes: &[0],
            },
            self.options.timeout,
        )))
    }

    /// `status` with `n` applied: each tool reads a database where it applied them itself
    /// (once, untimed); `psql -c` reads the ledger cargo-confiture wrote.
    pub(super) fn status(&self, n: u32, tools: &[Tool]) -> Result<Section, String> {
        let o = &self.options;
        let key = format!("status-{n}");
        let port = o.server.port;
        // psql reads confiture's ledger, so confiture goes first.
        let mut order: Vec<Tool> = tools
            .iter()
            .copied()
            .filter(|t| *t != Tool::Floor)
            .collect();
        order.sort();
        let (dbs, mut notes) = self.status_setup(&key, n, &order)?;
        let mut samples: BTreeMap<Tool, Vec<f64>> = BTreeMap::new();
        for run in 0..o.runs {
            for &tool in &order {
                let Some((db, layout)) = dbs.get(&tool) else {
                    continue;
                };
                if notes.contains_key(&tool) {
                    continue;
                }
                let url = db.url(port);
                let target = self.target(db, &url, port);
                let Some(command) =
                    tools::invocation(&self.installed, tool, layout, &target, Action::Status)?
                else {
                    continue;
                };
                let label = format!("status-run{run}");
                match measure::time_process(
                    Job {
                        command,
                        log_dir: &layout.root,
                        label: &label,
                        ok_codes: &[0],
                    },
                    o.timeout,
                ) {
                    Ok(elapsed) => {
                        let ms = elapsed.as_secs_f64() * 1000.0;
                        let name = status_name(tool);
                        eprintln!(
                            "  {key:<12} run {}/{}  {name:<20} {ms:>10.1} ms",
                            run + 1,
                            o.runs
                        );
                        samples.entry(tool).or_default().push(ms);
                    }
                    Err(e) => {
                        eprintln!("  {key:<12} {tool}: FAILED: {e}");
                        notes.insert(tool, "failed (see stderr above)".into());
                    }
                }
            }
        }
        let mut section = Section::new(
            &key,
            format!("status with {} applied", thousands(n)),
            Some(Tool::Psql),
        );
        section.base = Some("psql -c".into());
        for tool in order {
            section.rows.push(Row {
                tool: status_name(tool),
                stats: samples.get(&tool).and_then(|s| Stats::of(s)),
                note: notes.remove(&tool).unwrap_or_default(),
            });
        }
        Ok(section)
    }

    /// For `status`: each tool's database with `n` migrations it applied itself (untimed), and
    /// why a tool has none.
    #[allow(clippy::type_complexity)]
    fn status_setup(
        &self,
        key: &str,
        n: u32,
        order: &[Tool],
    ) -> Result<(BTreeMap<Tool, (Db, Layout)>, BTreeMap<Tool, String>), String> {
        let o = &self.options;
        let dir = self.work.join(key);
        let migrations = workload::one_row(n);
        let port = o.server.port;
        let mut dbs: BTreeMap<Tool, (Db, Layout)> = BTreeMap::new();
        let mut notes: BTreeMap<Tool, String> = BTreeMap::new();
        for &tool in order {
            let layout = tools::write_layout(tool, &dir.join(tool.key()), &migrations)?;
            if tool == Tool::Psql {
                let Some((confiture_db, _)) = dbs.get(&Tool::Confiture) else {
                    notes.insert(tool, "needs cargo confiture's ledger".into());
                    continue;
                };
                let db = confiture_db.shared();
                dbs.insert(tool, (db, layout));
                continue;
            }
            let db = o.server.fresh_db()?;
            let url = db.url(port);
            let target = self.target(&db, &url, port);
            if tools::invocation(&self.installed, tool, &layout, &target, Action::Status)?.is_none()
            {
                notes.insert(tool, "has no status command".into());
                continue;
            }
            eprintln!("  {key:<12} setting up: {tool} applies {n} migrations");
            let Some(command) =
                tools::invocation(&self.installed, tool, &layout, &target, Action::Apply)?
            else {
                continue;
            };
            let setup = measure::time_process(
                Job {
                    command,
                    log_dir: &layout.root,
                    label: "setup",
                    ok_codes: &[0],
                },
                o.timeout,
            );
            if let Err(e) = setup {
                eprintln!("  {key:<12} {tool}: setup FAILED: {e}");
                notes.insert(tool, "setup failed".into());
                continue;
            }
            dbs.insert(tool, (db, layout));
        }
        Ok((dbs, notes))
    }

    /// `cargo confiture lint` on `n` realistic pairs, as a whole process.
    pub(super) fn lint(&self, n: u32) -> Result<Section, String> {
        let key = format!("lint-{n}");
        let root = self.work.join(&key);
        let layout = tools::write_layout(Tool::Confiture, &root, &workload::create_table(n))?;
        let mut samples = Vec::new();
        for run in 0..self.options.runs {
            let mut command = Command::new(&self.installed.confiture);
            command
                .current_dir(&layout.root)
                .args(["confiture", "lint"]);
            let label = format!("lint-run{run}");
            let elapsed = measure::time_process(
                Job {
                    command,
                    log_dir: &root,
                    label: &label,
                    ok_codes: &[0],
                },
                self.options.timeout,
            )?;
            let ms = elapsed.as_secs_f64() * 1000.0;
            eprintln!(
                "  {key:<12} run {}/{}  cargo confiture lint {ms:>10.1} ms",
                run + 1,
                self.options.runs
            );
            samples.push(ms);
        }
        let mut section =
            Section::new(&key, format!("lint {} pairs (process)", thousands(n)), None);
        section.rows.push(Row {
            tool: "cargo confiture lint".into(),
            stats: Stats::of(&samples),
            note: String::new(),
        });
        Ok(section)
    }

    /// Peak resident memory of `up` and `status` with `n` migrations.
    pub(super) fn memory(&self, n: u32) -> Result<Section, String> {
        let o = &self.options;
        let key = format!("memory-{n}");
        let root = self.work.join(&key);
        let layout = tools::write_layout(Tool::Confiture, &root, &workload::one_row(n))?;
        let runs = o.runs.min(3);
        let (mut up, mut status) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let db = o.server.fresh_db()?;
            let url = db.url(o.server.port);
            let target = self.target(&db, &url, o.server.port);
            for (what, action, samples) in [
                ("up", Action::Apply, &mut up),
                ("status", Action::Status, &mut status),
            ] {
                let command =
                    tools::invocation(&self.installed, Tool::Confiture, &layout, &target, action)?
                        .ok_or("cargo confiture has both commands")?;
                let label = format!("{what}-run{run}");
                let kib = measure::peak_rss_kib(
                    Job {
                        command,
                        log_dir: &root,
                        label: &label,
                        ok_codes: &[0],
                    },
                    o.timeout,
                )?;
                let mib = kib as f64 / 1024.0;
                eprintln!(
                    "  {key:<12} run {}/{runs}  {what:<20} {mib:>10.1} MiB",
                    run + 1
                );
                samples.push(mib);
            }
        }
        let mut section = Section::new(
            &key,
            format!("peak memory with {} migrations", thousands(n)),
            None,
        );
        section.unit = "MiB";
        for (what, samples) in [("up", &up), ("status", &status)] {
            section.rows.push(Row {
                tool: format!("cargo confiture migrate {what}"),
                stats: Stats::of(samples),
                note: String::new(),
            });
        }
        Ok(section)
    }

    /// `cargo confiture migrate verify` of the example `db/` (6 migrations: each up, down, up
    /// again and four snapshots, on a scratch database created and dropped by the run), as a
    /// whole process.
    pub(super) fn verify(&self, root: &Path) -> Result<Section, String> {
        let o = &self.options;
        let key = "verify-example";
        let log_dir = self.work.join(key);
        std::fs::create_dir_all(&log_dir).map_err(|e| e.to_string())?;
        let mut samples = Vec::new();
        for run in 0..o.runs {
            // The target database only names the server: verify never touches it.
            let db = o.server.fresh_db()?;
            let mut command = Command::new(&self.installed.confiture);
            command.current_dir(root).args([
                "confiture",
                "migrate",
                "verify",
                "-q",
                "--database-url",
                &db.url(o.server.port),
            ]);
            let label = format!("verify-run{run}");
            let elapsed = measure::time_process(
                Job {
                    command,
                    log_dir: &log_dir,
                    label: &label,
                    ok_codes: &[0],
                },
                o.timeout,
            )?;
            let ms = elapsed.as_secs_f64() * 1000.0;
            eprintln!(
                "  {key:<12} run {}/{}  cargo confiture migrate verify {ms:>10.1} ms",
                run + 1,
                o.runs
            );
            samples.push(ms);
        }
        let mut section = Section::new(key, "verify the example db/ (process)", None);
        section.rows.push(Row {
            tool: "cargo confiture migrate verify".into(),
            stats: Stats::of(&samples),
            note: String::new(),
        });
        Ok(section)
    }

    /// Process start: `cargo-confiture --version` against `/bin/true` (the cost of any process).
    pub(super) fn start(&self) -> Result<Section, String> {
        let runs = self.options.runs.max(30);
        let dir = self.work.join("start");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let (mut ours, mut floor) = (Vec::new(), Vec::new());
        let truth = ["/bin/true", "/usr/bin/true"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("true");
        for run in 0..runs {
            for (program, args, samples) in [
                (
                    self.installed.confiture.as_os_str(),
                    &["--version"][..],
                    &mut ours,
                ),
                (truth.as_ref(), &[][..], &mut floor),
            ] {
                let mut command = Command::new(program);
                command.args(args);
                let label = format!("start-{run}");
                let elapsed = measure::time_process(
                    Job {
                        command,
                        log_dir: &dir,
                        label: &label,
                        ok_codes: &[0],
                    },
                    self.options.timeout,
                )?;
                samples.push(elapsed.as_secs_f64() * 1000.0);
            }
        }
        let mut section = Section::new("start", "process start", None);
        section.base = Some("/bin/true".into());
        section.rows.push(Row {
            tool: "/bin/true".into(),
            stats: Stats::of(&floor),
            note: String::new(),
        });
        section.rows.push(Row {
            tool: "cargo-confiture --version".into(),
            stats: Stats::of(&ours),
            note: String::new(),
        });
        Ok(section)
    }
}

/// psql reads the ledger with `-c` in the status workload.
fn status_name(tool: Tool) -> String {
    match tool {
        Tool::Psql => "psql -c".to_string(),
        _ => tool.to_string(),
    }
}

/// `cargo bench -p confiture --bench check --bench lint`, shown as it runs; returns the check
/// medians it printed, by number of pairs.
pub(super) fn cargo_bench(root: &Path) -> Result<BTreeMap<u32, f64>, String> {
    eprintln!("cargo bench -p confiture --bench check --bench lint ...");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "bench",
            "-q",
            "-p",
            "confiture",
            "--bench",
            "check",
            "--bench",
            "lint",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    eprint!("{text}");
    if !output.status.success() {
        return Err("cargo bench -p confiture failed".into());
    }
    // "  1000 pairs: read_dir + check    3.21 ms (...)"
    let mut medians = BTreeMap::new();
    for line in text.lines() {
        let Some((count, rest)) = line.trim().split_once(" pairs: read_dir + check") else {
            continue;
        };
        let ms = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        if let (Ok(count), Some(ms)) = (count.trim().parse(), ms) {
            medians.insert(count, ms);
        }
    }
    Ok(medians)
}
