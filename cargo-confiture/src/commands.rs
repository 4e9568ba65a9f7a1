//! One function per command: resolve what the user named, call the library, render the result.

use std::io::Write;
use std::path::{Path, PathBuf};

use confiture::files::{self, CheckOptions, Checked};
use confiture::workspace::Workspace;
use confiture::{exit, Error, Result, Severity};
use serde::Serialize;

use crate::cli::{Cli, Command, GenerateArgs, Migrate};
use crate::output::Output;

mod migrate;

/// Where the command runs: the workspace, and the migrations directory it names.
pub struct Context {
    pub workspace: Workspace,
    /// Absolute.
    pub migrations_dir: PathBuf,
    /// As shown to the user: relative to the current directory when below it.
    pub display_dir: PathBuf,
    pub check_options: CheckOptions,
}

impl Context {
    fn new(cli: &Cli) -> Result<Context> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::invalid("cannot read the current directory").with_cause(e))?;
        let workspace = Workspace::discover(&cwd)?;
        let migrations_dir = match &cli.global.migrations_dir {
            Some(dir) => cwd.join(dir),
            None => workspace.migrations_dir(),
        };
        let display_dir = match migrations_dir.strip_prefix(&cwd) {
            Ok(relative) if !relative.as_os_str().is_empty() => relative.to_path_buf(),
            _ => migrations_dir.clone(),
        };
        let check_options = CheckOptions {
            first_version: workspace.settings.first_version,
        };
        Ok(Context {
            workspace,
            migrations_dir,
            display_dir,
            check_options,
        })
    }

    /// Reads and checks the migrations directory; paths in diagnostics are as shown to the user.
    pub fn load(&self) -> Result<Checked> {
        files::load(&self.display_dir, &self.check_options)
    }
}

/// Runs the parsed command; returns the exit code of a command that completed.
pub fn run(cli: &Cli, out: &Output) -> Result<u8> {
    let cx = Context::new(cli)?;
    match &cli.command {
        Command::Lint => lint(&cx, out),
        Command::Migrate(Migrate::Generate(args)) => generate(&cx, args, out),
        Command::Migrate(command) => migrate::run(cli, &cx, command, out),
    }
}

/// `cargo confiture lint --format json`.
#[derive(Serialize)]
struct LintReport<'a> {
    migrations_dir: &'a Path,
    migrations: usize,
    errors: usize,
    warnings: usize,
    diagnostics: &'a [confiture::Diagnostic],
}

fn count(checked: &Checked, severity: Severity) -> usize {
    checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .count()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn lint(cx: &Context, out: &Output) -> Result<u8> {
    let checked = cx.load()?;
    let errors = count(&checked, Severity::Error);
    let warnings = count(&checked, Severity::Warning);
    if out.json_mode() {
        out.json(&LintReport {
            migrations_dir: &cx.display_dir,
            migrations: checked.set.migrations.len(),
            errors,
            warnings,
            diagnostics: &checked.diagnostics,
        });
    } else {
        for d in &checked.diagnostics {
            out.diagnostic(d);
        }
        let verdict = if errors + warnings == 0 {
            "no problems".to_string()
        } else {
            format!(
                "{}, {}",
                plural(errors, "error"),
                plural(warnings, "warning")
            )
        };
        out.result(&format!(
            "checked {} in {}: {verdict}",
            plural(checked.set.migrations.len(), "migration"),
            cx.display_dir.display()
        ));
    }
    Ok(if errors > 0 {
        exit::INVALID
    } else {
        exit::SUCCESS
    })
}

/// `cargo confiture migrate generate --format json`.
#[derive(Serialize)]
struct GenerateReport {
    version: String,
    name: String,
    up: PathBuf,
    down: PathBuf,
    dry_run: bool,
}

/// Prints a directory's diagnostics and returns the error that stops a command because of them.
pub fn refuse_invalid(
    cx: &Context,
    diagnostics: &[confiture::Diagnostic],
    out: &Output,
    doing: &str,
) -> Error {
    for d in diagnostics {
        out.diagnostic(d);
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let mut error = Error::invalid(format!(
        "{} in {}: not {doing}",
        plural(errors, "error"),
        cx.display_dir.display()
    ))
    .with_help("fix the files named above (`cargo confiture lint` shows them again), then retry");
    // The JSON error document on stdout names them too (the rustc-style text is on stderr).
    if out.json_mode() {
        for d in diagnostics.iter().filter(|d| d.is_error()) {
            error = error.with_detail(d.to_string());
        }
    }
    error
}

fn generate(cx: &Context, args: &GenerateArgs, out: &Output) -> Result<u8> {
    // A fresh project has no migrations directory yet: that is an empty set, not an error.
    let checked = if cx.migrations_dir.exists() {
        cx.load()?
    } else {
        files::check(&cx.display_dir, Vec::new(), &cx.check_options)
    };
    // Only errors that make the next number uncertain stop `generate`: the empty pair that it
    // created a minute ago (C007, C008) or a lint finding must not stop the next one.
    let new = match files::new_migration(&checked, &args.name) {
        Ok(new) => new,
        Err(e) => {
            let blocking: Vec<_> = checked
                .diagnostics
                .iter()
                .filter(|d| files::blocks_numbering(d))
                .cloned()
                .collect();
            // A bad name is reported as such, whatever the state of the directory.
            return Err(
                if blocking.is_empty() || !files::name::is_valid_name(&args.name) {
                    e
                } else {
                    refuse_invalid(cx, &blocking, out, "generating a migration")
                },
            );
        }
    };
    if !args.dry_run {
        std::fs::create_dir_all(&cx.migrations_dir).map_err(|e| {
            Error::invalid(format!("cannot create {}", cx.display_dir.display())).with_cause(e)
        })?;
        write_new(&new.up_path, &new.up_text)?;
        if let Err(e) = write_new(&new.down_path, &new.down_text) {
            // Never leave half a pair behind.
            let _ = std::fs::remove_file(&new.up_path);
            return Err(e);
        }
    }
    if out.json_mode() {
        out.json(&GenerateReport {
            version: new.version_text.clone(),
            name: new.name.clone(),
            up: new.up_path.clone(),
            down: new.down_path.clone(),
            dry_run: args.dry_run,
        });
    } else {
        let verb = if args.dry_run {
            "would create"
        } else {
            "created"
        };
        out.result(&format!(
            "{verb} {}\n{verb} {}",
            new.up_path.display(),
            new.down_path.display()
        ));
    }
    Ok(exit::SUCCESS)
}

/// Writes a new file, refusing to overwrite one that exists.
fn write_new(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::invalid(format!(
                    "{} already exists: not overwriting it",
                    path.display()
                ))
                .with_help("choose another name, or delete the file if it is a leftover")
            } else {
                Error::invalid(format!("cannot create {}", path.display())).with_cause(e)
            }
        })?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::invalid(format!("cannot write {}", path.display())).with_cause(e))
}
