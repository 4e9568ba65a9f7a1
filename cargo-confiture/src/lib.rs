//! The `cargo confiture` command line: argument parsing, rendering and exit codes. Glue only;
//! the work is in the `confiture` library.

use std::process::ExitCode;

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
