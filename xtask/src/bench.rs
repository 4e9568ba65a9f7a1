//! `cargo xtask bench`: cargo-confiture against the physical floor, `psql` and the peers users
//! would pick instead (sqlx-cli, refinery_cli, dbmate, confiture in Python), on workloads this
//! task generates into a temp directory, one fresh database per run. Tools run in turn
//! (interleaved, several runs each); the table gives the median, the spread and the ratio to
//! the workload's baseline, then every target as met or missed with the measured figure.
//!
//! Figures are reported, never asserted: the machine is shared and noisy.

mod fleet;
mod measure;
mod options;
pub mod peers;
mod pg;
mod proxy;
mod report;
mod single;
mod tools;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use measure::Stats;
use options::Options;
use tools::{Installed, Tool};

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
        self.run_applies(&present, &mut results)?;
        if o.wants("status") {
            for &n in &o.status_sizes {
                results
                    .sections
                    .push(self.status(n, &self.sized(&present, n))?);
            }
        }
        if o.wants("lint") {
            for n in [1000, 10000] {
                results.sections.push(self.lint(n)?);
            }
            if o.cargo_bench {
                results.check_ms = single::cargo_bench(root)?;
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

        print!("{}", report::table(&results));
        print!("{}", report::targets(&results, &self.installed));
        Ok(())
    }

    /// The tools that run at `n` migrations: peers on 10,000 only with `--big`.
    fn sized(&self, present: &[Tool], n: u32) -> Vec<Tool> {
        present
            .iter()
            .copied()
            .filter(|t| n <= 1000 || self.options.big || !t.is_peer())
            .collect()
    }

    /// The workloads that apply migrations: `apply`, `create`, `rtt`.
    fn run_applies(&self, present: &[Tool], results: &mut Results) -> Result<(), String> {
        let o = &self.options;
        if o.wants("apply") {
            for &n in &o.sizes {
                let (check, expected) = workload::one_row_check(n);
                results.sections.push(self.apply(
                    &format!("apply-{n}"),
                    &format!("apply {} one-row migrations", report::thousands(n)),
                    &workload::one_row(n),
                    &self.sized(present, n),
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
                &format!("apply {} CREATE TABLE migrations", report::thousands(n)),
                &workload::create_table(n),
                present,
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
                        report::thousands(n)
                    ),
                    &workload::one_row(n),
                    present,
                    (&check, expected),
                    Some(std::time::Duration::from_millis(rtt)),
                )?);
            }
        }
        Ok(())
    }
}
