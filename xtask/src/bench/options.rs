//! `cargo xtask bench`'s command line: the options, their defaults and `--help`.

use std::time::Duration;

use super::pg::Server;
use super::tools::{self, Tool};

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

pub(super) struct Options {
    pub(super) runs: usize,
    pub(super) only: Vec<String>,
    pub(super) tools: Vec<Tool>,
    pub(super) sizes: Vec<u32>,
    pub(super) big: bool,
    pub(super) create_n: u32,
    pub(super) fleet_dbs: usize,
    pub(super) fleet_schemas: usize,
    pub(super) status_sizes: Vec<u32>,
    pub(super) rtts: Vec<u64>,
    pub(super) rtt_n: u32,
    pub(super) slow: Duration,
    pub(super) timeout: Duration,
    pub(super) server: Server,
    pub(super) build: bool,
    pub(super) install_peers: bool,
    pub(super) cargo_bench: bool,
    pub(super) keep: bool,
}

pub(super) const WORKLOADS: [&str; 9] = [
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
    pub(super) fn parse(args: &[String]) -> Result<Options, String> {
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
            o.flag(flag, &mut it)?;
        }
        if o.sizes.iter().chain(&o.status_sizes).any(|&n| n < 2) || o.create_n < 1 || o.rtt_n < 2 {
            return Err("migration counts must be at least 2".into());
        }
        Ok(o)
    }

    /// Takes `flag` and, for those that have one, its value from `rest`.
    fn flag(&mut self, flag: &str, rest: &mut std::slice::Iter<'_, String>) -> Result<(), String> {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        let one = |v: String| -> Result<u64, String> {
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        let o = self;
        match flag {
            "--runs" => o.runs = one(value()?)?.max(1) as usize,
            "--only" => o.only = workloads(&value()?)?,
            "--tools" => o.tools = tool_list(&value()?)?,
            "--sizes" => o.sizes = list(flag, &value()?)?,
            "--big" => o.big = true,
            "--full" => {
                o.runs = 5;
                o.big = true;
                o.rtt_n = 1000;
            }
            "--create-n" => o.create_n = one(value()?)? as u32,
            "--fleet-dbs" => o.fleet_dbs = one(value()?)? as usize,
            "--fleet-schemas" => o.fleet_schemas = one(value()?)? as usize,
            "--status-sizes" => o.status_sizes = list(flag, &value()?)?,
            "--rtt" => o.rtts = list(flag, &value()?)?,
            "--rtt-n" => o.rtt_n = one(value()?)? as u32,
            "--slow" => o.slow = Duration::from_secs(one(value()?)?),
            "--timeout" => o.timeout = Duration::from_secs(one(value()?)?),
            "--host" => o.server.host = value()?,
            "--port" => o.server.port = one(value()?)? as u16,
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
        Ok(())
    }

    pub(super) fn wants(&self, workload: &str) -> bool {
        self.only.iter().any(|w| w == workload)
    }
}

/// `--only`'s workloads, each one of [`WORKLOADS`].
fn workloads(value: &str) -> Result<Vec<String>, String> {
    let only: Vec<String> = value.split(',').map(|w| w.trim().to_string()).collect();
    if let Some(bad) = only.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
        return Err(format!(
            "--only: unknown workload {bad:?} (one of {})",
            WORKLOADS.join(", ")
        ));
    }
    Ok(only)
}

/// `--tools`' tools, by key.
fn tool_list(value: &str) -> Result<Vec<Tool>, String> {
    value
        .split(',')
        .map(str::trim)
        .map(|key| {
            tools::ALL
                .iter()
                .copied()
                .find(|t| t.key() == key)
                .ok_or_else(|| {
                    let keys: Vec<_> = tools::ALL.iter().map(|t| t.key()).collect();
                    format!("--tools: unknown tool {key:?} (one of {})", keys.join(", "))
                })
        })
        .collect()
}
