//! One function per command: resolve what the user named, call the library, render the result.

use std::path::{Path, PathBuf};

use confiture::config::{self, Selection};
use confiture::files::{self, CheckOptions, Checked};
use confiture::migrate::Failed;
use confiture::workspace::Workspace;
use confiture::{display, exit, hint, Error, Result, Severity};
use serde::Serialize;

use crate::cli::{Cli, Command, LintArgs, Migrate, SELECTION_LABELS};
use crate::output::{Output, Style};
use crate::render::plural;

mod fleet;
mod generate;
mod interrupt;
pub(crate) mod migrate;
mod verify;

/// Where the command runs: the workspace, and the migrations directory it names.
pub struct Context {
    pub workspace: Workspace,
    /// Absolute.
    pub migrations_dir: PathBuf,
    /// As shown to the user and given to the library: relative to the current directory
    /// (`../db/migrations` from `src/`), so that every message names it as the user would.
    pub display_dir: PathBuf,
    pub check_options: CheckOptions,
    /// Who named the migrations directory: `--migrations-dir`, else the settings (or the
    /// default), for what an error about the directory says to change.
    pub dir_named_by: files::DirNamedBy,
}

impl Context {
    fn new(cli: &Cli) -> Result<Context> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::invalid("cannot read the current directory").with_cause(e))?;
        let g = &cli.global;
        let start = crate::select::start(&cwd, g.package.as_deref(), g.manifest_path.as_deref())?;
        // `-c FILE` brings the project that holds the file (as `Migrator::from_config`), unless
        // `-p`/`--manifest-path` name one.
        let workspace = match &g.config {
            Some(file) if g.package.is_none() && g.manifest_path.is_none() => {
                Workspace::of_environment_file(&cwd.join(file), &start)?
            }
            _ => Workspace::discover(&start)?,
        };
        // `app/../shared/migrations` (a member's `../shared/migrations`, or a
        // `--migrations-dir ./../x`) as the directory it is, `shared/migrations`, in every
        // message: `Workspace::migrations_dir` takes the dots out of the settings' own.
        let migrations_dir = match &cli.global.migrations_dir {
            Some(dir) => display::without_dot_dot(&cwd.join(dir)),
            None => workspace.migrations_dir(),
        };
        if let Some(given) = &cli.global.migrations_dir {
            refuse_dir_of_the_root(given, &migrations_dir, &workspace, &cwd)?;
        }
        if cli.global.migrations_dir.is_none() && g.package.is_none() && g.manifest_path.is_none() {
            refuse_virtual_root(&workspace, &migrations_dir, &cwd)?;
        }
        let display_dir = display::relative_to(&migrations_dir, &cwd);
        let check_options = CheckOptions::default()
            .first_version(workspace.settings.first_version)
            .first_version_from(workspace.settings.first_version_from);
        let dir_named_by = match (
            &cli.global.migrations_dir,
            workspace.settings.migrations_dir_from,
        ) {
            (Some(_), _) => files::DirNamedBy::Flag,
            (None, Some(_)) => files::DirNamedBy::Command,
            (None, None) => files::DirNamedBy::DefaultDir,
        };
        Ok(Context {
            workspace,
            migrations_dir,
            display_dir,
            check_options,
            dir_named_by,
        })
    }

    /// Reads and checks the migrations directory; paths in diagnostics are as shown to the user.
    pub fn load(&self) -> Result<Checked> {
        self.load_with(&self.check_options)
    }

    /// [`Context::load`] with `options`.
    pub fn load_with(&self, options: &CheckOptions) -> Result<Checked> {
        files::load_named_by(&self.display_dir, options, self.dir_named_by)
    }
}

/// A relative `--migrations-dir` that is not there from the current directory but is from the
/// workspace root (`--migrations-dir db/migrations` typed in `src/`): refused (exit 5) naming
/// the directory at the root and the flag that reaches it from here. The flag is relative to
/// the current directory, as every path a command shows is; the directory's "does not exist"
/// help would otherwise say to create it with `migrate generate`, a second, empty history
/// beside the project's (and `generate` would make it).
fn refuse_dir_of_the_root(
    given: &Path,
    migrations_dir: &Path,
    workspace: &Workspace,
    cwd: &Path,
) -> Result<()> {
    let Some(at_root) = workspace
        .there_from_the_root(given, cwd)
        .filter(|dir| dir.is_dir() && files::is_missing_dir(migrations_dir))
    else {
        return Ok(());
    };
    Err(Error::invalid(format!(
        "migrations directory `{}` does not exist in `{}`: --migrations-dir is relative to \
         the current directory",
        display::path(given),
        display::current_dir(cwd)
    ))
    .with_help(format!(
        "the workspace root has `{}`: from here it is `--migrations-dir {}`{}",
        display::path(given),
        hint::quote_path(&display::relative_to(&at_root, cwd)),
        if at_root == workspace.migrations_dir() {
            " (or leave the flag out: it is the project's migrations directory)"
        } else {
            ""
        }
    )))
}

/// The root of a virtual workspace whose migrations directory does not exist, while members
/// have confiture settings (`[package.metadata.confiture]`): refused (exit 5) naming them and
/// `-p NAME`, as cargo names `-p` at a virtual manifest — never "create it with `migrate
/// generate`", which would start a second, empty history at the root (`generate` itself is
/// refused too).
fn refuse_virtual_root(workspace: &Workspace, migrations_dir: &Path, cwd: &Path) -> Result<()> {
    let missing = matches!(
        std::fs::symlink_metadata(migrations_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    if !missing || workspace.manifest.is_none() || workspace.package_manifest.is_some() {
        return Ok(());
    }
    // `cargo metadata` failing (a member without its `src/` yet), the members the manifests
    // declare: refused all the same, naming cargo's failure, which `-p NAME` needs fixed.
    let (members, unlisted) = crate::select::members_with_settings(workspace)?;
    let shown = |path: &Path| display::path(&display::relative_to(path, cwd)).to_string();
    let described: Vec<String> = members
        .iter()
        .map(|(name, _, migrations)| {
            format!(
                "{} (its migrations: {})",
                display::escape(name),
                shown(migrations)
            )
        })
        .collect();
    let manifest_of = |dir: &Path| {
        hint::quote_path(&display::relative_to(&dir.join("Cargo.toml"), cwd)).to_string()
    };
    let (what, help) = match (members.as_slice(), &unlisted) {
        ([], _) => return Ok(()),
        ([(name, dir, _)], None) => (
            format!("member {} has", described[0]),
            format!(
                "run the command for it: add `-p {}` (or `--manifest-path {}`)",
                hint::quote(name),
                manifest_of(dir)
            ),
        ),
        ([(first, _, _), ..], None) => (
            format!("members {} have", display::cut(described).join(", ")),
            format!(
                "run the command for one of them: add `-p NAME` (`-p {}`), or \
                 `--manifest-path NAME/Cargo.toml`",
                hint::quote(first)
            ),
        ),
        // `-p` asks `cargo metadata` too: only `--manifest-path` works before cargo's
        // problem is fixed.
        ([(name, dir, _)], Some(_)) => (
            format!("member {} has", described[0]),
            format!(
                "run the command for it: add `--manifest-path {}`; `-p {}` works once cargo \
                 can list the members (`cargo metadata --no-deps` says what to fix)",
                manifest_of(dir),
                hint::quote(name),
            ),
        ),
        ([(first, dir, _), ..], Some(_)) => (
            format!("members {} have", display::cut(described).join(", ")),
            format!(
                "run the command for one of them: add `--manifest-path NAME/Cargo.toml` \
                 (`--manifest-path {}`); `-p NAME` (`-p {}`) works once cargo can list the \
                 members (`cargo metadata --no-deps` says what to fix)",
                manifest_of(dir),
                hint::quote(first)
            ),
        ),
    };
    let refusal = Error::invalid(format!(
        "migrations directory `{}` does not exist at the root of this virtual workspace, and \
         {what} confiture settings",
        shown(migrations_dir)
    ))
    .with_help(help);
    Err(match unlisted {
        // What cargo said, under the refusal.
        Some(unlisted) => (unlisted.details.iter()).fold(
            refusal.with_detail(format!("{}:", unlisted.message_with_cause())),
            |refusal, line| refusal.with_detail(line.clone()),
        ),
        None => refusal,
    })
}

/// Runs the parsed command; returns the exit code of a command that completed.
pub fn run(cli: &Cli, out: &Output) -> Result<u8> {
    let cx = Context::new(cli)?;
    match &cli.command {
        Command::Lint(args) => lint(cli, &cx, args, out),
        Command::Migrate(Migrate::Generate(args)) => generate::run(&cx, args, out),
        Command::Migrate(command) => migrate::run(cli, &cx, command, out),
    }
}

/// What a command that completed did, said when its result could not be written
/// ([`Output::settle`]): it stands.
pub fn completed(command: &Command) -> &'static str {
    match command {
        Command::Lint(_) => "`lint` completed (it changes nothing)",
        Command::Migrate(command) => match command {
            Migrate::Generate(args) if args.dry_run => {
                "`migrate generate --dry-run` completed: no file was written"
            }
            Migrate::Generate(_) => "`migrate generate` completed: the files it wrote stay",
            Migrate::Up(args) if args.dry_run => {
                "`migrate up --dry-run` completed: nothing was applied"
            }
            Migrate::Up(_) => "`migrate up` completed: the migrations it applied stay applied",
            Migrate::Down(args) if args.dry_run => {
                "`migrate down --dry-run` completed: nothing was rolled back"
            }
            Migrate::Down(_) => {
                "`migrate down` completed: the migrations it rolled back stay rolled back"
            }
            Migrate::Status(_) => "`migrate status` completed (it writes nothing)",
            Migrate::Baseline(args) if args.dry_run => {
                "`migrate baseline --dry-run` completed: nothing was written"
            }
            Migrate::Baseline(_) => "`migrate baseline` completed: the ledger rows it wrote stay",
            Migrate::Reinit(args) if args.dry_run => {
                "`migrate reinit --dry-run` completed: nothing was written"
            }
            Migrate::Reinit(_) => "`migrate reinit` completed: the ledger it rewrote stays",
            Migrate::Abandon(args) if args.dry_run => {
                "`migrate abandon --dry-run` completed: nothing was written"
            }
            Migrate::Abandon(_) => {
                "`migrate abandon` completed: the interrupted run it forgot stays forgotten"
            }
            Migrate::Verify(_) => "`migrate verify` completed (its scratch databases are dropped)",
            Migrate::Drift(_) => "`migrate drift` completed (it only reads the live database)",
        },
    }
}

/// `cargo confiture lint --format json`.
#[derive(Serialize)]
struct LintReport<'a> {
    #[serde(serialize_with = "confiture::display::serialize_path")]
    migrations_dir: &'a Path,
    migrations: usize,
    /// How many diagnostics are errors, and warnings.
    error_count: usize,
    warning_count: usize,
    /// `--deny-warnings`: warnings fail the run (exit 5).
    deny_warnings: bool,
    diagnostics: &'a [confiture::Diagnostic],
    /// The error object of every other command's report: empty when lint passes, else the one
    /// `invalid` error ([`lint_failure`]), whose `diagnostics` are the problems that failed it,
    /// so that `.errors[0]` reads a failed lint as every other failure.
    errors: Vec<confiture::migrate::ReportedError>,
}

fn count(checked: &Checked, severity: Severity) -> usize {
    checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .count()
}

/// The verdict of `lint`: exit 5 on errors, and on warnings when they are denied.
fn lint_fails(errors: usize, warnings: usize, deny_warnings: bool) -> bool {
    errors > 0 || (deny_warnings && warnings > 0)
}

/// The error of a failed `lint` of `dir` (`errors` and `warnings` its counts, `denied_by` the
/// flag that denies warnings): the text's closing line, and with `--format json` the report's
/// `errors[0]`, its `diagnostics` the problems that fail it (errors; warnings too when denied).
fn lint_failure(
    dir: &str,
    checked: &Checked,
    (errors, warnings): (usize, usize),
    denied_by: Option<&str>,
) -> Error {
    let mut counts = Vec::new();
    if errors > 0 {
        counts.push(plural(errors, "error"));
    }
    if warnings > 0 {
        counts.push(plural(warnings, "warning"));
    }
    let denied = match denied_by {
        Some(flag) if errors == 0 => format!(" (warnings denied by {flag})"),
        _ => String::new(),
    };
    let failing = (checked.diagnostics.iter())
        .filter(|d| d.severity == Severity::Error || denied_by.is_some());
    Error::invalid(format!(
        "could not lint {dir}: {}{denied}",
        counts.join(", ")
    ))
    .with_help(format!(
        "fix the problems listed (each one's help says how), then run {} again",
        hint::command("lint")
    ))
    .with_diagnostics(failing)
}

/// The options `lint` checks with: the context's, with the tracking table of the environment
/// given by `--env NAME` or `-c FILE` — the name `migrate` would write there, which `C108`
/// looks for — read by the library (`config::tracking_table_of`: the file found as `migrate`
/// finds it, its connection left unread). Without one, the default name: `lint` reads no
/// environment file it is not given.
fn lint_options(cli: &Cli, cx: &Context) -> Result<CheckOptions> {
    let g = &cli.global;
    let selection = match (&g.env, &g.config) {
        (Some(name), _) => Selection::Env(name.clone()),
        (None, Some(file)) => Selection::File(file.clone()),
        (None, None) => return Ok(cx.check_options.clone()),
    };
    let table = config::tracking_table_of(
        &cx.workspace,
        &selection,
        &SELECTION_LABELS,
        &config::process_vars,
    )?;
    Ok((cx.check_options.clone()).tracking_table(table))
}

fn lint(cli: &Cli, cx: &Context, args: &LintArgs, out: &Output) -> Result<u8> {
    let checked = cx.load_with(&lint_options(cli, cx)?)?;
    let errors = count(&checked, Severity::Error);
    let warnings = count(&checked, Severity::Warning);
    let deny = args.denies_warnings();
    let fails = lint_fails(errors, warnings, deny);
    let dir = display::path(&cx.display_dir);
    let failure = fails.then(|| lint_failure(&dir, &checked, (errors, warnings), args.denied_by()));
    if out.json_mode() {
        out.json(&LintReport {
            migrations_dir: &cx.display_dir,
            migrations: checked.set.migrations.len(),
            error_count: errors,
            warning_count: warnings,
            deny_warnings: deny,
            diagnostics: &checked.diagnostics,
            errors: (failure.iter())
                .map(confiture::migrate::ReportedError::of)
                .collect(),
        });
    } else {
        for d in &checked.diagnostics {
            out.diagnostic(d);
        }
        let mut counts = Vec::new();
        if errors > 0 {
            counts.push(plural(errors, "error"));
        }
        if warnings > 0 {
            counts.push(plural(warnings, "warning"));
        }
        if let Some(failure) = &failure {
            // cargo's closing line: on stderr, with the other diagnostics.
            out.note(&format!(
                "{} {}",
                out.paint_err(Style::Red, "error:"),
                failure.message
            ));
        } else {
            let verdict = if counts.is_empty() {
                "no problems".to_string()
            } else {
                counts.join(", ")
            };
            out.result(&format!(
                "checked {} in {dir}: {verdict}",
                plural(checked.set.migrations.len(), "migration"),
            ));
        }
    }
    Ok(if fails { exit::INVALID } else { exit::SUCCESS })
}

/// A command's outcome: its report on stdout as JSON (also on failure: its `errors` carry the
/// error, and stdout keeps its one document) or as text, and on failure the error on stderr.
/// Returns the exit code: the report's own (`code`) or the error's.
fn finish<R: Serialize>(
    out: &Output,
    outcome: std::result::Result<R, Failed<R>>,
    code: impl Fn(&R) -> u8,
    text: impl Fn(&Output, &R) -> String,
) -> Result<u8> {
    match outcome {
        Ok(report) => {
            if out.json_mode() {
                out.report_json(&report);
            } else {
                out.result(&text(out, &report));
            }
            Ok(code(&report))
        }
        Err(Failed { error, report }) => {
            if out.json_mode() {
                out.report_json(&report);
            }
            out.error_text(&error);
            Ok(error.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint_fails_on_errors_and_on_denied_warnings() {
        assert!(!lint_fails(0, 0, false));
        assert!(!lint_fails(0, 3, false));
        assert!(lint_fails(0, 3, true));
        assert!(lint_fails(1, 0, false));
        assert!(!lint_fails(0, 0, true));
    }
}
