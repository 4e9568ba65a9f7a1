//! How long `files::load` (read the directory + check) takes for 1,000 and 10,000 realistic
//! migration pairs, against the budgets (≤ 10 ms and ≤ 100 ms). Not a timed test: it prints
//! the medians. `cargo bench -p confiture --bench check`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use confiture::files::{self, CheckOptions};

fn write_pairs(dir: &Path, count: u64) {
    fs::create_dir_all(dir).unwrap();
    for v in 1..=count {
        let stem = format!("{v:05}_create_tb_thing_{v}");
        let up = format!(
            "-- Migration {v:05}: create_tb_thing_{v}\n\
             CREATE TABLE tb_thing_{v} (\n    \
                 pk_thing_{v} INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
                 id UUID DEFAULT gen_random_uuid() UNIQUE NOT NULL,\n    \
                 identifier TEXT UNIQUE NOT NULL,\n    \
                 fk_user INTEGER NOT NULL REFERENCES tb_user(pk_user),\n    \
                 payload JSONB NOT NULL DEFAULT '{{}}',\n    \
                 created_at TIMESTAMPTZ DEFAULT NOW()\n\
             );\n\
             CREATE INDEX idx_tb_thing_{v}_fk_user ON tb_thing_{v} (fk_user);\n"
        );
        let down = format!("DROP INDEX idx_tb_thing_{v}_fk_user;\nDROP TABLE tb_thing_{v};\n");
        fs::write(dir.join(format!("{stem}.up.sql")), up).unwrap();
        fs::write(dir.join(format!("{stem}.down.sql")), down).unwrap();
    }
}

/// Medians of (read_dir, check, both).
fn medians(dir: &Path, runs: usize) -> [Duration; 3] {
    let mut reads = Vec::with_capacity(runs);
    let mut checks = Vec::with_capacity(runs);
    let mut totals = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let entries = files::read_dir(dir).unwrap();
        let read = start.elapsed();
        let checked = files::check(dir, entries, &CheckOptions::default());
        let total = start.elapsed();
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics.first());
        reads.push(read);
        checks.push(total - read);
        totals.push(total);
    }
    [reads, checks, totals].map(|mut times| {
        times.sort();
        times[runs / 2]
    })
}

fn main() {
    let root: PathBuf =
        std::env::temp_dir().join(format!("confiture-bench-{}", std::process::id()));
    for (count, budget_ms, runs) in [(1_000u64, 10.0, 11), (10_000, 100.0, 7)] {
        let dir = root.join(count.to_string());
        write_pairs(&dir, count);
        let _warm = medians(&dir, 1);
        let [read, check, total] = medians(&dir, runs).map(|t| t.as_secs_f64() * 1000.0);
        let verdict = if total <= budget_ms { "within" } else { "OVER" };
        println!(
            "{count:>6} pairs: read_dir + check {total:>7.2} ms (read_dir {read:.2}, check {check:.2}; \
             median of {runs}): {verdict} the {budget_ms} ms budget"
        );
    }
    let _ = fs::remove_dir_all(&root);
}
