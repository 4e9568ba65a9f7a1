//! What `cargo xtask bench` prints: the table of every section and the targets, met or missed.

use std::fmt::Write as _;

use super::tools::{self, Installed, Tool};
use super::{fleet, Results};

pub(super) fn thousands(n: u32) -> String {
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

pub(super) fn table(results: &Results) -> String {
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
pub(super) struct Verdict {
    pub(super) target: &'static str,
    pub(super) outcome: Option<(bool, String)>,
}

fn fastest_peer(results: &Results, key: &str, installed: &Installed) -> Option<(Tool, f64)> {
    tools::PEERS
        .iter()
        .filter(|t| installed.has(**t))
        .filter_map(|t| Some((*t, results.median(key, *t)?)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// Every target, met or missed, with the measured figure.
pub(super) fn targets(results: &Results, installed: &Installed) -> String {
    let mut v = apply_verdicts(results, installed);
    v.extend(status_verdicts(results));
    v.extend(other_verdicts(results));
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

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

/// The targets of `apply`, `create` and `rtt`.
fn apply_verdicts(results: &Results, installed: &Installed) -> Vec<Verdict> {
    let ours = |key: &str| results.median(key, Tool::Confiture);
    let floor = |key: &str| results.median(key, Tool::Floor);
    let mut v = Vec::new();
    let r = ratio(ours("apply-1000"), floor("apply-1000"));
    v.push(Verdict {
        target: "apply 1,000 one-row ≤ 1.6× the floor",
        outcome: r.map(|r| (r <= 1.6, format!("{r:.2}×"))),
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
    v
}

/// The targets of `status`, and linear growth of `apply` and `status`.
fn status_verdicts(results: &Results) -> Vec<Verdict> {
    let ours = |key: &str| results.median(key, Tool::Confiture);
    let status = |t: Tool| results.median("status-1000", t);
    let psql_c = results.get("status-1000").and_then(|s| s.median("psql -c"));
    let mut v = vec![Verdict {
        target: "status 1,000 ≤ 1.25× psql -c",
        outcome: ratio(status(Tool::Confiture), psql_c).map(|r| (r <= 1.25, format!("{r:.2}×"))),
    }];
    for peer in [Tool::Sqlx, Tool::Dbmate] {
        v.push(Verdict {
            target: if peer == Tool::Sqlx {
                "status 1,000 ≥ 2× faster than sqlx-cli"
            } else {
                "status 1,000 ≥ 2× faster than dbmate"
            },
            outcome: ratio(status(peer), status(Tool::Confiture))
                .map(|x| (x >= 2.0, format!("{x:.1}×"))),
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
    v
}

/// Memory, process start, `verify` and the file check.
fn other_verdicts(results: &Results) -> Vec<Verdict> {
    // The median of `command` in the section `key`, under `budget`, as `shown` writes it.
    let under = |key: &str, command: &str, budget: f64, shown: fn(f64) -> String| {
        let median = results.get(key).and_then(|s| s.median(command));
        median.map(|m| (m < budget, shown(m)))
    };
    let mut v = vec![
        Verdict {
            target: "peak memory of status at 10,000 < 30 MiB",
            outcome: under(
                "memory-10000",
                "cargo confiture migrate status",
                30.0,
                |m| format!("{m:.1} MiB"),
            ),
        },
        Verdict {
            target: "process start < 5 ms",
            outcome: under("start", "cargo-confiture --version", 5.0, |ms| {
                format!("{ms:.2} ms")
            }),
        },
        Verdict {
            target: "verify of the example db/ < 2 s",
            outcome: under(
                "verify-example",
                "cargo confiture migrate verify",
                2000.0,
                |ms| format!("{ms:.0} ms"),
            ),
        },
    ];
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
    v
}
