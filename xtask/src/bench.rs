//! `cargo xtask bench`: cargo-confiture against the physical floor, `psql` and the peers users
//! would pick instead (sqlx-cli, refinery_cli, dbmate, confiture in Python), on workloads this
//! task generates into a temp directory, one fresh database per run. Tools run in turn
//! (interleaved, several runs each); the table gives the median, the spread and the ratio to
//! the workload's baseline, then every target as met or missed with the measured figure.
//!
//! Figures are reported, never asserted: the machine is shared and noisy.

mod fleet;
mod measure;
pub mod peers;
mod pg;
mod proxy;
mod tools;
mod workload;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use measure::{Job, Stats};
use pg::{Db, Server};
use tools::{Installed, Layout, Target, Tool};
use workload::Migration;

const USAGE: &str = "usage: cargo xtask bench [OPTIONS]

Builds cargo-confiture in release, then measures it against the floor, psql and the peers
that `cargo xtask peers` installed, at pinned versions, into target/peers ($CONFITURE_PEERS_DIR
if set); peers not installed are listed and left out.

  --full             the sizes the targets name, 5 runs: --runs 5 --big --rtt-n 1000
                       (tens of minutes; the defaults take a few)
  --runs N           runs per tool and workload (default 3; start-up: 30)
  --only LIST        workloads, comma-separated (default all):
                       apply, create, status, lint, rtt, memory, start, verify, fleet
  --tools LIST       tools (default all installed): floor, confiture, psql, sqlx, refinery,
                       dbmate, python
  --sizes LIST       migration counts for `apply` (default 100,1000,10000; peers run 10000
                       only with --big)
  --fleet-dbs N      databases for `fleet` (default 200; 0 skips), 5 migrations each, --jobs 8
  --fleet-schemas N  tenant schemas of one database for `fleet` (default 1000; 0 skips)
  --big              also run peers on 10,000 migrations (apply and status)
  --create-n N       migrations for `create` (default 1000)
  --status-sizes L   applied migrations for `status` (default 1000,10000)
  --rtt LIST         simulated round trips in ms for `rtt` (default 1,10)
  --rtt-n N          migrations for `rtt` (default 200: peers need ~10 round trips each)
  --slow SECS        a tool whose run takes longer gets no more runs of that workload
                       (default 15)
  --timeout SECS     kill a run after this long (default 600)
  --host H --port P --user U   the PostgreSQL server (default 127.0.0.1 5432 postgres)
  --install-peers    run `cargo xtask peers` first (several minutes the first time)
  --no-build         use target/release/cargo-confiture as it is
  --no-cargo-bench   skip `cargo bench -p confiture --bench check --bench lint`
  --keep             keep the generated workloads (the temp directory is printed)";

struct Options {
    runs: usize,
    only: Vec<String>,
    tools: Vec<Tool>,
    sizes: Vec<u32>,
    big: bool,
    create_n: u32,
    fleet_dbs: usize,
    fleet_schemas: usize,
    status_sizes: Vec<u32>,
    rtts: Vec<u64>,
    rtt_n: u32,
    slow: Duration,
    timeout: Duration,
    server: Server,
    build: bool,
    install_peers: bool,
    cargo_bench: bool,
    keep: bool,
}

const WORKLOADS: [&str; 9] = [
    "apply", "create", "status", "lint", "rtt", "memory", "start", "verify", "fleet",
];

fn list<T: std::str::FromStr>(flag: &str, value: &str) -> Result<Vec<T>, String> {
    value
        .split(',')
        .map(|v| {
            v.trim()
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        })
        .collect()
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            runs: 3,
            only: WORKLOADS.iter().map(|w| w.to_string()).collect(),
            tools: tools::ALL.to_vec(),
            sizes: vec![100, 1000, 10000],
            big: false,
            create_n: 1000,
            fleet_dbs: 200,
            fleet_schemas: 1000,
            status_sizes: vec![1000, 10000],
            rtts: vec![1, 10],
            rtt_n: 200,
            slow: Duration::from_secs(15),
            timeout: Duration::from_secs(600),
            server: Server {
                host: "127.0.0.1".into(),
                port: 5432,
                user: "postgres".into(),
            },
            build: true,
            install_peers: false,
            cargo_bench: true,
            keep: false,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
            };
            let one = |flag: &str, v: String| -> Result<u64, String> {
                v.replace('_', "")
                    .parse()
                    .map_err(|_| format!("{flag}: {v:?} is not a number"))
            };
            match flag.as_str() {
                "--runs" => o.runs = one(flag, value()?)?.max(1) as usize,
                "--only" => {
                    let v = value()?;
                    o.only = v.split(',').map(|w| w.trim().to_string()).collect();
                    if let Some(bad) = o.only.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
                        return Err(format!(
                            "--only: unknown workload {bad:?} (one of {})",
                            WORKLOADS.join(", ")
                        ));
                    }
                }
                "--tools" => {
                    let v = value()?;
                    o.tools = Vec::new();
                    for key in v.split(',').map(str::trim) {
                        let tool = tools::ALL.iter().find(|t| t.key() == key).ok_or_else(|| {
                            let keys: Vec<_> = tools::ALL.iter().map(|t| t.key()).collect();
                            format!("--tools: unknown tool {key:?} (one of {})", keys.join(", "))
                        })?;
                        o.tools.push(*tool);
                    }
                }
                "--sizes" => o.sizes = list(flag, &value()?)?,
                "--big" => o.big = true,
                "--full" => {
                    o.runs = 5;
                    o.big = true;
                    o.rtt_n = 1000;
                }
                "--create-n" => o.create_n = one(flag, value()?)? as u32,
                "--fleet-dbs" => o.fleet_dbs = one(flag, value()?)? as usize,
                "--fleet-schemas" => o.fleet_schemas = one(flag, value()?)? as usize,
                "--status-sizes" => o.status_sizes = list(flag, &value()?)?,
                "--rtt" => o.rtts = list(flag, &value()?)?,
                "--rtt-n" => o.rtt_n = one(flag, value()?)? as u32,
                "--slow" => o.slow = Duration::from_secs(one(flag, value()?)?),
                "--timeout" => o.timeout = Duration::from_secs(one(flag, value()?)?),
                "--host" => o.server.host = value()?,
                "--port" => o.server.port = one(flag, value()?)? as u16,
                "--user" => o.server.user = value()?,
                "--install-peers" => o.install_peers = true,
                "--no-build" => o.build = false,
                "--no-cargo-bench" => o.cargo_bench = false,
                "--keep" => o.keep = true,
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
            }
        }
        if o.sizes.iter().chain(&o.status_sizes).any(|&n| n < 2) || o.create_n < 1 || o.rtt_n < 2 {
            return Err("migration counts must be at least 2".into());
        }
        Ok(o)
    }

    fn wants(&self, workload: &str) -> bool {
        self.only.iter().any(|w| w == workload)
    }
}

/// One measured row: a tool in a workload.
struct Row {
    tool: String,
    stats: Option<Stats>,
    /// Why there is no figure, or what to know about it.
    note: String,
}

/// A workload at one size: its rows, and which row the ratios divide by.
struct Section {
    key: String,
    title: String,
    unit: &'static str,
    base: Option<String>,
    rows: Vec<Row>,
}

impl Section {
    fn new(key: impl Into<String>, title: impl Into<String>, base: Option<Tool>) -> Section {
        Section {
            key: key.into(),
            title: title.into(),
            unit: "ms",
            base: base.map(|t| t.to_string()),
            rows: Vec::new(),
        }
    }

    fn median(&self, tool: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.tool == tool)
            .and_then(|r| r.stats)
            .map(|s| s.median)
    }

    fn base_median(&self) -> Option<f64> {
        self.median(self.base.as_deref()?)
    }
}

/// Everything measured, by section key.
#[derive(Default)]
struct Results {
    sections: Vec<Section>,
    /// `cargo bench --bench check`: pairs → median ms of read_dir + check.
    check_ms: BTreeMap<u32, f64>,
}

impl Results {
    fn get(&self, key: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.key == key)
    }

    fn median(&self, key: &str, tool: Tool) -> Option<f64> {
        self.get(key)?.median(&tool.to_string())
    }
}

struct Bench {
    options: Options,
    installed: Installed,
    work: PathBuf,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or("no workspace root")?;
    if options.build {
        eprintln!("building cargo-confiture (release)...");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args(["build", "--release", "--quiet", "-p", "cargo-confiture"])
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("cargo build --release -p cargo-confiture failed".into());
        }
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target_dir.join("release/cargo-confiture");
    if !binary.exists() {
        return Err(format!(
            "{} does not exist: run without --no-build",
            binary.display()
        ));
    }
    let peers_dir = peers::dir(&root);
    if options.install_peers {
        peers::install_all(&peers_dir)?;
    }
    let installed = Installed::discover(binary, &peers_dir);
    options.server.admin()?;

    let work = std::env::temp_dir().join(format!("confiture-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let bench = Bench {
        options,
        installed,
        work,
    };
    let result = bench.run_all(&root);
    if bench.options.keep {
        eprintln!("workloads kept in {}", bench.work.display());
    } else {
        let _ = std::fs::remove_dir_all(&bench.work);
    }
    result
}

impl Bench {
    fn run_all(&self, root: &Path) -> Result<(), String> {
        let o = &self.options;
        let mut results = Results::default();
        let started = Instant::now();
        let present: Vec<Tool> = o
            .tools
            .iter()
            .copied()
            .filter(|t| self.installed.has(*t))
            .collect();
        for (tool, place) in &self.installed.missing {
            if o.tools.contains(tool) {
                eprintln!("{tool}: not installed (looked in {place}); run `cargo xtask peers`");
            }
        }

        if o.wants("start") {
            results.sections.push(self.start()?);
        }
        if o.wants("apply") {
            for &n in &o.sizes {
                let tools: Vec<Tool> = present
                    .iter()
                    .copied()
                    .filter(|t| n <= 1000 || o.big || !t.is_peer())
                    .collect();
                let (check, expected) = workload::one_row_check(n);
                results.sections.push(self.apply(
                    &format!("apply-{n}"),
                    &format!("apply {} one-row migrations", thousands(n)),
                    &workload::one_row(n),
                    &tools,
                    (&check, expected),
                    None,
                )?);
            }
        }
        if o.wants("create") {
            let n = o.create_n;
            let (check, expected) = workload::create_table_check(n);
            results.sections.push(self.apply(
                &format!("create-{n}"),
                &format!("apply {} CREATE TABLE migrations", thousands(n)),
                &workload::create_table(n),
                &present,
                (&check, expected),
                None,
            )?);
        }
        if o.wants("rtt") {
            for &rtt in &o.rtts {
                let n = o.rtt_n;
                let (check, expected) = workload::one_row_check(n);
                results.sections.push(self.apply(
                    &format!("rtt{rtt}-{n}"),
                    &format!(
                        "apply {} one-row migrations over a {rtt} ms round trip",
                        thousands(n)
                    ),
                    &workload::one_row(n),
                    &present,
                    (&check, expected),
                    Some(Duration::from_millis(rtt)),
                )?);
            }
        }
        if o.wants("status") {
            for &n in &o.status_sizes {
                let tools: Vec<Tool> = present
                    .iter()
                    .copied()
                    .filter(|t| n <= 1000 || o.big || !t.is_peer())
                    .collect();
                results.sections.push(self.status(n, &tools)?);
            }
        }
        if o.wants("lint") {
            for n in [1000, 10000] {
                results.sections.push(self.lint(n)?);
            }
            if o.cargo_bench {
                results.check_ms = cargo_bench(root)?;
            }
        }
        if o.wants("memory") {
            results.sections.push(self.memory(10_000)?);
        }
        if o.wants("verify") {
            results.sections.push(self.verify(root)?);
        }
        if o.wants("fleet") {
            if o.fleet_dbs > 0 {
                results.sections.push(self.fleet_dbs(o.fleet_dbs)?);
            }
            if o.fleet_schemas > 0 {
                results.sections.push(self.fleet_schemas(o.fleet_schemas)?);
            }
        }
        eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());

        print!("{}", table(&results));
        print!("{}", targets(&results, &self.installed));
        Ok(())
    }

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
    fn apply(
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
        let proxy = match rtt {
            Some(rtt) => {
                let upstream = format!("{}:{}", o.server.host, o.server.port);
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&upstream)
                    .map_err(|e| format!("{upstream}: {e}"))?
                    .next()
                    .ok_or(format!("{upstream}: no address"))?;
                Some(proxy::Proxy::start(addr, rtt, o.timeout * 20)?)
            }
            None => None,
        };
        let port = proxy.as_ref().map_or(o.server.port, |p| p.port);
        let mut samples: BTreeMap<Tool, Vec<f64>> = BTreeMap::new();
        let mut notes: BTreeMap<Tool, String> = BTreeMap::new();
        for run in 0..o.runs {
            for &tool in tools {
                if notes.contains_key(&tool) {
                    continue;
                }
                let db = o.server.fresh_db()?;
                let url = db.url(port);
                let label = format!("{}-run{run}", tool.key());
                let outcome = match tool {
                    Tool::Floor => pg::run_floor(&db, port, &floor),
                    _ => {
                        if tool == Tool::Psql {
                            // The script writes the floor's rows into the floor's table.
                            db.client()?
                                .batch_execute(pg::LEDGER_DDL)
                                .map_err(|e| format!("ledger table: {e}"))?;
                        }
                        let target = self.target(&db, &url, port);
                        let layout = &layouts[&tool];
                        match tools::apply(&self.installed, tool, layout, &target)? {
                            Some(command) => measure::time_process(
                                Job {
                                    command,
                                    log_dir: &layout.root,
                                    label: &label,
                                    ok_codes: &[0],
                                },
                                o.timeout,
                            ),
                            None => continue,
                        }
                    }
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

    /// `status` with `n` applied: each tool reads a database where it applied them itself
    /// (once, untimed); `psql -c` reads the ledger cargo-confiture wrote.
    fn status(&self, n: u32, tools: &[Tool]) -> Result<Section, String> {
        let o = &self.options;
        let key = format!("status-{n}");
        let dir = self.work.join(&key);
        let migrations = workload::one_row(n);
        let port = o.server.port;
        let mut dbs: BTreeMap<Tool, (Db, Layout)> = BTreeMap::new();
        let mut notes: BTreeMap<Tool, String> = BTreeMap::new();
        // psql reads confiture's ledger, so confiture goes first.
        let mut order: Vec<Tool> = tools
            .iter()
            .copied()
            .filter(|t| *t != Tool::Floor)
            .collect();
        order.sort();
        for &tool in &order {
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
            if tools::status(&self.installed, tool, &layout, &target)?.is_none() {
                notes.insert(tool, "has no status command".into());
                continue;
            }
            eprintln!("  {key:<12} setting up: {tool} applies {n} migrations");
            let Some(command) = tools::apply(&self.installed, tool, &layout, &target)? else {
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
                let Some(command) = tools::status(&self.installed, tool, layout, &target)? else {
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

    /// `cargo confiture lint` on `n` realistic pairs, as a whole process.
    fn lint(&self, n: u32) -> Result<Section, String> {
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
    fn memory(&self, n: u32) -> Result<Section, String> {
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
            for (what, samples) in [("up", &mut up), ("status", &mut status)] {
                let command = if what == "up" {
                    tools::apply(&self.installed, Tool::Confiture, &layout, &target)?
                } else {
                    tools::status(&self.installed, Tool::Confiture, &layout, &target)?
                }
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
    fn verify(&self, root: &Path) -> Result<Section, String> {
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
    fn start(&self) -> Result<Section, String> {
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
fn cargo_bench(root: &Path) -> Result<BTreeMap<u32, f64>, String> {
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

fn thousands(n: u32) -> String {
    let digits = n.to_string();
    let head = digits.len() % 3;
    let mut groups: Vec<&str> = Vec::new();
    if head > 0 {
        groups.push(&digits[..head]);
    }
    groups.extend(
        digits.as_bytes()[head..]
            .chunks(3)
            .map(|c| std::str::from_utf8(c).unwrap_or("")),
    );
    groups.join(",")
}

fn figure(value: f64, unit: &str) -> String {
    if unit == "MiB" {
        format!("{value:.1} MiB")
    } else if value >= 10_000.0 {
        format!("{:.1} s", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.1} ms")
    }
}

fn table(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<30} {:>10}  {:>19}  {:>4}  {:>8}",
        "tool", "median", "spread (min–max)", "runs", "× base"
    );
    for section in &results.sections {
        let base = section.base_median();
        let _ = writeln!(
            out,
            "\n{}{}",
            section.title,
            section
                .base
                .as_deref()
                .map(|b| format!(" (base: {b})"))
                .unwrap_or_default()
        );
        for row in &section.rows {
            match row.stats {
                Some(s) => {
                    let ratio = base
                        .filter(|b| *b > 0.0)
                        .map(|b| format!("{:.2}×", s.median / b))
                        .unwrap_or_default();
                    let spread = format!(
                        "{}–{}",
                        figure(s.min, section.unit),
                        figure(s.max, section.unit)
                    );
                    let _ = writeln!(
                        out,
                        "  {:<28} {:>10}  {:>19}  {:>4}  {:>8}  {}",
                        row.tool,
                        figure(s.median, section.unit),
                        spread,
                        s.runs,
                        ratio,
                        row.note
                    );
                }
                None => {
                    let _ = writeln!(out, "  {:<28} {:>10}  {}", row.tool, "—", row.note);
                }
            }
        }
    }
    if !results.check_ms.is_empty() {
        let _ = writeln!(out, "\nfiles::load (cargo bench --bench check, in-process)");
        for (pairs, ms) in &results.check_ms {
            let _ = writeln!(
                out,
                "  {:<28} {:>10}",
                format!("{} pairs", thousands(*pairs)),
                figure(*ms, "ms")
            );
        }
    }
    out
}

/// A target: what it promises, and the measured figure that meets it or not.
struct Verdict {
    target: &'static str,
    outcome: Option<(bool, String)>,
}

fn fastest_peer(results: &Results, key: &str, installed: &Installed) -> Option<(Tool, f64)> {
    tools::PEERS
        .iter()
        .filter(|t| installed.has(**t))
        .filter_map(|t| Some((*t, results.median(key, *t)?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

fn targets(results: &Results, installed: &Installed) -> String {
    let ours = |key: &str| results.median(key, Tool::Confiture);
    let floor = |key: &str| results.median(key, Tool::Floor);
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?);
    let mut v = Vec::new();

    let r = ratio(ours("apply-1000"), floor("apply-1000"));
    v.push(Verdict {
        target: "apply 1,000 one-row ≤ 2.5× the floor",
        outcome: r.map(|r| (r <= 2.5, format!("{r:.2}×"))),
    });
    let peer = fastest_peer(results, "apply-1000", installed);
    v.push(Verdict {
        target: "apply 1,000 one-row ≥ 4× faster than the fastest peer",
        outcome: peer.and_then(|(t, p)| {
            let x = p / ours("apply-1000")?;
            Some((x >= 4.0, format!("{x:.1}× faster than {t}")))
        }),
    });
    v.push(Verdict {
        target: "apply 1,000 one-row ≥ 30× faster than confiture (Python)",
        outcome: ratio(
            results.median("apply-1000", Tool::Python),
            ours("apply-1000"),
        )
        .map(|x| (x >= 30.0, format!("{x:.1}×"))),
    });
    let r = ratio(ours("create-1000"), floor("create-1000"));
    v.push(Verdict {
        target: "apply 1,000 CREATE TABLE ≤ 1.1× the floor",
        outcome: r.map(|r| (r <= 1.1, format!("{r:.2}×"))),
    });
    v.push(Verdict {
        target: "apply 1,000 CREATE TABLE faster than every peer",
        outcome: fastest_peer(results, "create-1000", installed).and_then(|(t, p)| {
            let x = p / ours("create-1000")?;
            Some((x > 1.0, format!("{x:.2}× faster than {t}")))
        }),
    });
    v.push(Verdict {
        target: "over a 10 ms round trip, 1,000 migrations ≥ 10× faster than the fastest peer",
        // Measured at --rtt-n migrations (1,000 with --full).
        outcome: results
            .sections
            .iter()
            .find(|s| s.key.starts_with("rtt10-"))
            .and_then(|section| {
                let (t, p) = fastest_peer(results, &section.key, installed)?;
                let x = p / ours(&section.key)?;
                let n = section.key.trim_start_matches("rtt10-");
                Some((x >= 10.0, format!("{x:.1}× faster than {t} (at {n})")))
            }),
    });
    let status = |t: Tool| results.median("status-1000", t);
    let psql_c = results.get("status-1000").and_then(|s| s.median("psql -c"));
    v.push(Verdict {
        target: "status 1,000 ≤ 1.25× psql -c",
        outcome: ratio(status(Tool::Confiture), psql_c).map(|r| (r <= 1.25, format!("{r:.2}×"))),
    });
    for peer in [Tool::Sqlx, Tool::Dbmate] {
        v.push(Verdict {
            target: if peer == Tool::Sqlx {
                "status 1,000 ≥ 3× faster than sqlx-cli"
            } else {
                "status 1,000 ≥ 3× faster than dbmate"
            },
            outcome: ratio(status(peer), status(Tool::Confiture))
                .map(|x| (x >= 3.0, format!("{x:.1}×"))),
        });
    }
    for (what, small, large) in [
        ("apply", "apply-1000", "apply-10000"),
        ("status", "status-1000", "status-10000"),
    ] {
        v.push(Verdict {
            target: if what == "apply" {
                "linear growth: apply 10,000 ≈ 10× apply 1,000 (≤ 11×)"
            } else {
                "linear growth: status 10,000 ≈ 10× status 1,000 (≤ 11×)"
            },
            outcome: ratio(ours(large), ours(small)).map(|x| (x <= 11.0, format!("{x:.1}×"))),
        });
    }
    let peak = results
        .get("memory-10000")
        .and_then(|s| s.median("cargo confiture migrate status"));
    v.push(Verdict {
        target: "peak memory of status at 10,000 < 30 MiB",
        outcome: peak.map(|m| (m < 30.0, format!("{m:.1} MiB"))),
    });
    let start = results
        .get("start")
        .and_then(|s| s.median("cargo-confiture --version"));
    v.push(Verdict {
        target: "process start < 5 ms",
        outcome: start.map(|ms| (ms < 5.0, format!("{ms:.2} ms"))),
    });
    let verify = results
        .get("verify-example")
        .and_then(|s| s.median("cargo confiture migrate verify"));
    v.push(Verdict {
        target: "verify of the example db/ < 2 s",
        outcome: verify.map(|ms| (ms < 2000.0, format!("{ms:.0} ms"))),
    });
    for (pairs, budget) in [(1000, 10.0), (10000, 100.0)] {
        v.push(Verdict {
            target: if pairs == 1000 {
                "check 1,000 pairs ≤ 10 ms"
            } else {
                "check 10,000 pairs ≤ 100 ms"
            },
            outcome: results
                .check_ms
                .get(&pairs)
                .map(|ms| (*ms <= budget, format!("{ms:.1} ms"))),
        });
    }
    v.extend(fleet::verdicts(results));

    let mut out = String::from("\ntargets\n");
    for verdict in v {
        let (mark, figure) = match verdict.outcome {
            Some((true, f)) => ("met   ", f),
            Some((false, f)) => ("MISSED", f),
            None => ("—     ", "not measured".to_string()),
        };
        let _ = writeln!(out, "  {mark}  {:<80} {figure}", verdict.target);
    }
    out
}
