//! The `cargo confiture` command line: argument parsing, rendering and exit codes. Glue only;
//! the work is in the `confiture` library.
//!
//! Works both as invoked by cargo (`cargo-confiture confiture <args>`) and directly
//! (`cargo-confiture <args>`). Results go to stdout (a table, or one JSON document with
//! `--format json`); progress and diagnostics go to stderr.

mod cli;
mod commands;
mod output;
mod render;
mod select;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use confiture::{exit, Error};

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
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e, wants_json(&args)),
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

/// Whether the arguments ask for `--format json`, read from the raw arguments: clap's own
/// errors happen before there is a parsed value to ask, and a script that passed
/// `--format json` must still get one JSON document when another argument is wrong. The last
/// `--format` wins, as it does for clap; nothing after `--` is an option.
fn wants_json(args: &[OsString]) -> bool {
    let mut format = None;
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    while let Some(word) = words.next() {
        match word {
            Some("--") => break,
            Some("--format") => format = words.next().flatten(),
            Some(w) => {
                if let Some(value) = w.strip_prefix("--format=") {
                    format = Some(value);
                }
            }
            None => {}
        }
    }
    format == Some("json")
}

/// A clap error (or `--help`/`--version`): clap's text as it renders it, and with `--format
/// json` also the error document on stdout. Exit 0 for help and version, else 64 (never 2:
/// that means "tracking table not initialised" to deployment scripts).
fn argument_error(e: &clap::Error, json: bool) -> u8 {
    use clap::error::ErrorKind as K;
    let _ = e.print();
    match e.kind() {
        K::DisplayHelp | K::DisplayVersion => exit::SUCCESS,
        _ => {
            if json {
                output::print_json_error(&usage_error(e));
            }
            exit::USAGE
        }
    }
}

/// A clap error as the library's usage error: its first line is the message, its `tip:` lines
/// the help, its usage line a detail.
fn usage_error(e: &clap::Error) -> Error {
    use clap::error::ErrorKind as K;
    if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap renders the help text itself here, not an error line.
        let usage = e
            .render()
            .to_string()
            .lines()
            .find_map(|l| l.strip_prefix("Usage: ").map(str::to_string));
        let mut error = Error::usage("a subcommand is required")
            .with_help("run with --help to see the subcommands");
        if let Some(usage) = usage {
            error = error.with_detail(format!("usage: {usage}"));
        }
        return error;
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let mut error = Error::usage(first.strip_prefix("error: ").unwrap_or(first));
    let mut help = Vec::new();
    for line in lines {
        if let Some(tip) = line.strip_prefix("tip: ") {
            help.push(tip.to_string());
        } else if let Some(usage) = line.strip_prefix("Usage: ") {
            error = error.with_detail(format!("usage: {usage}"));
        }
    }
    help.push("run with --help to see the options".to_string());
    error.with_help(help.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        std::iter::once("cargo-confiture")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn json_is_found_wherever_format_is_given() {
        for words in [
            &["--format", "json", "migrate", "up"][..],
            &["migrate", "up", "--format=json"],
            &["migrate", "--format", "table", "up", "--format", "json"],
        ] {
            assert!(wants_json(&args(words)), "{words:?}");
        }
        for words in [
            &["migrate", "up"][..],
            &["--format", "json", "--format", "table"],
            &["migrate", "generate", "--", "--format", "json"],
            &["--format"],
            &["--format", "JSON"],
        ] {
            assert!(!wants_json(&args(words)), "{words:?}");
        }
    }

    #[test]
    fn clap_errors_become_usage_errors_with_their_first_line() {
        let e = Cli::try_parse_from(args(&["migrate", "up", "--bogus"])).unwrap_err();
        let error = usage_error(&e);
        assert_eq!(error.exit_code(), exit::USAGE);
        assert_eq!(error.message, "unexpected argument '--bogus' found");
        assert!(
            error.details.iter().any(|d| d.starts_with("usage: ")),
            "{error:?}"
        );
        let e = Cli::try_parse_from(args(&["migrate"])).unwrap_err();
        assert_eq!(usage_error(&e).message, "a subcommand is required");
    }
}
