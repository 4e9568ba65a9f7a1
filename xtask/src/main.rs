//! Our own automation, run as `cargo xtask <task>`:
//! - `ci`: what CI runs — formatting, clippy with warnings denied, the API docs with warnings
//!   denied, the whole test suite;
//! - `bench`: the benchmarks (release builds; figures are reported, never asserted in tests);
//! - `peers`: installs the tools the benchmark compares with, versions pinned, into `target/`;
//! - `fuzz`: the property/fuzz tests with many more iterations than the bounded CI run;
//! - `release --env NAME [--dry-run] [--allow-drift]`: lint, verify, status gate, drift, apply,
//!   final status, with the library (`examples/xtask-release`, the template users copy).

mod bench;

use std::process::ExitCode;

use xshell::{cmd, Shell};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let result = match task {
        "ci" => ci(),
        "bench" => match bench::run(&args[1..]) {
            Ok(()) => Ok(()),
            Err(e) => {
                eprintln!("xtask bench: {e}");
                return ExitCode::FAILURE;
            }
        },
        "peers" => {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("xtask lives in the workspace");
            match bench::peers::run(&args[1..], root) {
                Ok(()) => Ok(()),
                Err(e) => {
                    eprintln!("xtask peers: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        "fuzz" => fuzz(&args[1..]),
        "release" => return release(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci|bench|peers|fuzz|release>\n  ci     formatting, clippy -D warnings, cargo doc -D warnings, cargo test --workspace\n  bench  cargo-confiture against the floor, psql and peers (`cargo xtask bench --help`)\n  peers  install the peers, versions pinned, into target/peers\n  fuzz [ITERATIONS]  long property/fuzz runs (default 200000)\n  release --env NAME [--dry-run] [--allow-drift] [--scratch-url URL]  lint, verify, status, drift, apply, final status");
            return ExitCode::from(if task == "help" { 0 } else { 64 });
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn shell() -> xshell::Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(env!("CARGO_MANIFEST_DIR"));
    sh.change_dir("..");
    Ok(sh)
}

fn ci() -> xshell::Result<()> {
    let sh = shell()?;
    cmd!(sh, "cargo fmt --all --check").run()?;
    cmd!(sh, "cargo clippy --workspace --all-targets -- -D warnings").run()?;
    cmd!(sh, "cargo doc --workspace --no-deps")
        .env("RUSTDOCFLAGS", "-D warnings")
        .run()?;
    cmd!(sh, "cargo test --workspace").run()?;
    Ok(())
}

fn fuzz(args: &[String]) -> xshell::Result<()> {
    let sh = shell()?;
    let iterations = args
        .first()
        .cloned()
        .unwrap_or_else(|| "200000".to_string());
    let _env = sh.push_env("CONFITURE_FUZZ_ITERS", iterations);
    cmd!(
        sh,
        "cargo test --release -p confiture --test it -- sql_split_props:: sql_pg_scanner:: files_fuzz:: config_fuzz::"
    )
    .run()?;
    Ok(())
}

/// `cargo xtask release`: the flow of `examples/xtask-release` on this repository's workspace
/// (its `db/` example project and environments).
fn release(args: &[String]) -> ExitCode {
    let options = match xtask_release::parse_args(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("xtask release: {e}\n{}", xtask_release::USAGE);
            return ExitCode::from(confiture::exit::USAGE);
        }
    };
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or(manifest_dir);
    let ws = match confiture::workspace::Workspace::discover(root) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("xtask release: {e:#}");
            return ExitCode::from(e.exit_code());
        }
    };
    let summary = xtask_release::release(&ws, &options, &mut |line| eprintln!("{line}"));
    print!("{}", summary.render());
    if let Some(report) = summary.failure_report() {
        eprint!("{report}");
    }
    ExitCode::from(summary.exit_code)
}
