//! `xtask-release --env NAME [--dry-run] [--allow-drift]`: the release flow of `lib.rs` as a
//! program, run in the workspace around the current directory. In your own `xtask`, call
//! `release` from its `main` under a `release` task, as this repository's `xtask` does.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match xtask_release::parse_args(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("error: {e}\n{}", xtask_release::USAGE);
            return ExitCode::from(confiture::exit::USAGE);
        }
    };
    let ws = match std::env::current_dir()
        .map_err(|e| confiture::Error::invalid("cannot read the current directory").with_cause(e))
        .and_then(|dir| confiture::workspace::Workspace::discover(&dir))
    {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("error: {e:#}");
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
