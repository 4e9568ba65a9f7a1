//! The `cargo confiture` command line: argument parsing, rendering and exit codes. Glue only;
//! the work is in the `confiture` library.
//!
//! Works both as invoked by cargo (`cargo-confiture confiture <args>`) and directly
//! (`cargo-confiture <args>`). Results go to stdout (a table, or one JSON document with
//! `--format json`); progress and diagnostics go to stderr.

mod cli;
mod commands;
mod output;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use confiture::exit;

pub use cli::Cli;

/// Runs the CLI with the process arguments and returns its exit code.
pub fn main() -> ExitCode {
    ExitCode::from(run(std::env::args_os()))
}

/// Runs the CLI with `args` (the first being the program name); returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let mut args: Vec<OsString> = args.into_iter().collect();
    // cargo runs `cargo-confiture confiture <args>`; people may run `cargo-confiture <args>`.
    if args.get(1).is_some_and(|a| a == "confiture") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind as K;
            let code = match e.kind() {
                K::DisplayHelp
                | K::DisplayVersion
                | K::DisplayHelpOnMissingArgumentOrSubcommand => {
                    if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
                        exit::USAGE
                    } else {
                        exit::SUCCESS
                    }
                }
                // 2 means "tracking table not initialised" to deployment scripts: never use it here.
                _ => exit::USAGE,
            };
            let _ = e.print();
            return code;
        }
    };
    let out = output::Output::new(&cli.global);
    match commands::run(&cli, &out) {
        Ok(code) => code,
        Err(error) => {
            out.error(&error);
            error.exit_code()
        }
    }
}
