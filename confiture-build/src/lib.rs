//! Check a cargo-confiture migrations directory from `build.rs`: a missing down file, a
//! duplicate version, a badly named file... fails the build, naming the file.
//!
//! In the standard layout (`db/migrations`, or `migrations_dir` under
//! `[package.metadata.confiture]` in the package's `Cargo.toml` or
//! `[workspace.metadata.confiture]` in the workspace's), the build script is:
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), confiture_build::Error> {
//!     confiture_build::check()?;
//!     Ok(())
//! }
//! ```
//!
//! with `confiture-build` under `[build-dependencies]`. It has no database driver in its
//! dependency tree: it only reads files.
//!
//! What [`check`] does:
//! - finds the workspace from `CARGO_MANIFEST_DIR` and reads `[workspace.metadata.confiture]`
//!   and the package's `[package.metadata.confiture]`, which overrides it (`migrations_dir`,
//!   `first_version`);
//! - prints `cargo:rerun-if-changed` for those `Cargo.toml` files and the migrations directory
//!   (cargo scans it whole: a file added, edited, renamed or removed), plus any file in it that
//!   is a symbolic link to a file elsewhere (each path once, known by what it resolves to: a
//!   link to a directory, a subdirectory, is covered by the directory's line), so the check runs again exactly when something it read changes — and
//!   nothing else: a clean build prints no warning. A migrations directory that holds the
//!   build's output (`OUT_DIR`: `migrations_dir = "."` with `target/` in the package) is
//!   refused, since cargo would find the files each build writes there and rerun every time;
//! - prints each error as one `cargo::error=path[:line]: code: message; help: ...` line (the
//!   line number when the problem is at a line; control characters escaped) and each warning
//!   as a `cargo:warning=` line;
//! - returns `Err` when there is any error, so that `main` exits non-zero and the build fails.
//!
//! The settings are the ones every `cargo confiture` command reads, so that the binary and
//! the CLI agree: another directory or a squashed history's first version go in the package's
//! `Cargo.toml`, and the build script stays as above:
//!
//! ```toml
//! # Cargo.toml
//! [package.metadata.confiture]
//! migrations_dir = "sql/migrations"
//! first_version = 40
//! ```
//!
//! The builder's [`Check::migrations_dir`] and [`Check::first_version`] are not another way
//! to set them: they must agree with `Cargo.toml`. One that differs fails the build, naming
//! both places; a `first_version` it lacks fails it, and a directory it does not name is a
//! `cargo:warning=` naming the key to add. An error about the directory itself (missing, a
//! file in its place) says to point `migrations_dir` in `Cargo.toml` at the right one.
//!
//! The tracking table that migrations must not write (rule `C108`) is `tb_confiture` unless
//! [`Check::tracking_table`] names the environment's (`migration.tracking_table`): the check
//! reads no environment file (YAML), and the `migrate` commands check the environment's name
//! at run time either way.
//!
//! [`Check::inspect`] does the same work without printing anything, for a build script that
//! wants to decide itself what to do with the [`Report`].
//!
//! To ship the migrations inside the binary, embed them: when the check passes, the build
//! script also writes `$OUT_DIR/confiture_migrations.rs`, and the application includes it
//! with `confiture::include_migrations!()` (a `&'static confiture::embedded::EmbeddedMigrations`
//! for `confiture::Migrator::from_embedded`):
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), confiture_build::Error> {
//!     confiture_build::Check::new().embed().run()?;
//!     Ok(())
//! }
//! ```
//!
//! Each file is included with `include_str!`, and the `rerun-if-changed` lines above cover the
//! directory: adding, editing, renaming or deleting a migration rebuilds the set on the next
//! `cargo build`. Cargo tells a change by modification time, so a file put back with an older
//! one (`tar -x`, `cp -p`, `rsync -a`, a restored backup) over a newer build is not seen, nor
//! a whole directory moved into place (`mv`) whose files are all older than the build, and
//! the set stays as it was: `touch db/migrations db/migrations/*` or `cargo clean -p <package>`
//! rebuilds it (a `git checkout` writes files with the current time). A directory with an
//! error is never embedded. A check without `embed()`
//! writes [`NOT_EMBEDDED_SOURCE`] there instead, a `compile_error!` saying to call `embed()`:
//! a build script that stopped embedding never leaves its last set to be compiled in, stale.
//!
//! The `cargo::error=` instruction needs cargo 1.84 or later. When the package declares an
//! older `rust-version`, errors are printed as `cargo:warning=error: ...` instead; the build
//! still fails through the exit code.

#![deny(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};

use confiture::files::{self, CheckOptions, Checked};

mod embed;

use confiture::hint::Invocation;
use confiture::ledger::TrackingTable;
use confiture::workspace::{ShownFrom, Workspace};
use confiture::{display, Diagnostic};
pub use embed::{embed_source, Package, NOT_EMBEDDED_SOURCE};

/// Checks the migrations directory of the workspace that contains the package being built;
/// prints the cargo instructions. `Err` when the directory has errors or cannot be read.
pub fn check() -> Result<Report, Error> {
    Check::new().run()
}

/// A check with explicit settings. Settings come from the package's
/// `[package.metadata.confiture]`, then the workspace's `[workspace.metadata.confiture]`, then
/// from the defaults: those are what every `cargo confiture` command reads, so they are the
/// owner. A setting given to the builder must agree with them: one that differs fails the
/// build, naming both places.
#[derive(Debug, Clone, Default)]
pub struct Check {
    migrations_dir: Option<PathBuf>,
    first_version: Option<u64>,
    tracking_table: Option<String>,
    manifest_dir: Option<PathBuf>,
    embed: bool,
    /// The build's output directory (`OUT_DIR`, which is inside cargo's target directory),
    /// when not the environment's: set by tests.
    out_dir: Option<PathBuf>,
}

/// What a check found, with everything needed to print the cargo instructions.
#[derive(Debug, Clone)]
pub struct Report {
    /// The workspace root: diagnostics are shown relative to it.
    pub root: PathBuf,
    /// The `Cargo.toml` the settings were read from, if any.
    pub manifest: Option<PathBuf>,
    /// The package's `Cargo.toml`, when its `[package.metadata.confiture]` was read too.
    pub package_manifest: Option<PathBuf>,
    /// The migrations directory, absolute.
    pub migrations_dir: PathBuf,
    /// Every entry of the migrations directory that was looked at.
    pub files: Vec<PathBuf>,
    /// The set and every diagnostic.
    pub checked: Checked,
    /// The options the directory was checked with.
    pub options: CheckOptions,
    /// Settings given to the builder that the workspace's settings (which every `cargo
    /// confiture` command reads) do not hold, each a line saying which `Cargo.toml` key to add;
    /// [`Check::run`] prints them as `cargo:warning=` lines.
    pub warnings: Vec<String>,
}

/// Why the check failed the build.
#[derive(Clone)]
pub enum Error {
    /// The settings or the migrations directory could not be read.
    Setup(confiture::Error),
    /// The migrations directory has errors; each was printed as a `cargo::error=` line. The
    /// library's refusal ([`files::refusal`]): the errors are its `diagnostics`. Boxed: a
    /// build script's `Result<(), Error>` stays small.
    Invalid(Box<confiture::Error>),
}

impl Check {
    /// A check with nothing set: every setting comes from the manifests, as for [`check`].
    pub fn new() -> Check {
        Check::default()
    }

    /// The migrations directory; a relative path is relative to the package's directory
    /// (`CARGO_MANIFEST_DIR`). Not the way to check another directory: that is
    /// `migrations_dir` in `[package.metadata.confiture]` of the package's `Cargo.toml`, which
    /// every `cargo confiture` command reads too. This must be the directory the settings name
    /// (`migrations_dir`, default `db/migrations`) when they set one, or the build fails; when
    /// they do not, the check prints a `cargo:warning=` naming the key to add, since `cargo
    /// confiture` commands would otherwise read `db/migrations`.
    pub fn migrations_dir(mut self, dir: impl Into<PathBuf>) -> Check {
        self.migrations_dir = Some(dir.into());
        self
    }

    /// The first version of a squashed history. It must be the settings' `first_version`:
    /// one that differs, or that the settings do not hold, fails the build (`migrate status`
    /// would call the ledger's rows below it missing while the binary takes them as
    /// squashed); the help names the key to set in `Cargo.toml`.
    pub fn first_version(mut self, version: u64) -> Check {
        self.first_version = Some(version);
        self
    }

    /// The tracking table that migrations must not write (rule `C108`, `writes-tracking-table`):
    /// `name` or `schema.name`, as the environment's `migration.tracking_table` names it. The
    /// build cannot read that setting — an environment file is YAML, and the check reads only
    /// `Cargo.toml` — so a project whose ledger is not `tb_confiture` gives it here; without it
    /// the check looks for `tb_confiture` alone. `migrate` commands (and `lint --env NAME`)
    /// check the environment's own name either way. A name no tracking table can have fails
    /// the build.
    pub fn tracking_table(mut self, name: impl Into<String>) -> Check {
        self.tracking_table = Some(name.into());
        self
    }

    /// Where to start looking for the workspace (default: `CARGO_MANIFEST_DIR`, else the
    /// current directory).
    pub fn manifest_dir(mut self, dir: impl Into<PathBuf>) -> Check {
        self.manifest_dir = Some(dir.into());
        self
    }

    /// Also embeds the migrations: when the check passes, [`Check::run`] writes
    /// `$OUT_DIR/confiture_migrations.rs`, which `confiture::include_migrations!()` includes
    /// (see [`embed_source`] for what it holds). A directory with errors is never embedded:
    /// the build fails first.
    pub fn embed(mut self) -> Check {
        self.embed = true;
        self
    }

    /// Runs the check and prints nothing.
    pub fn inspect(&self) -> Result<Report, confiture::Error> {
        let located = self.locate()?;
        located.read()
    }

    /// Runs the check and prints the cargo instructions to stdout: `rerun-if-changed` lines,
    /// then one line per diagnostic. `Err` when there is an error, so that the build fails.
    pub fn run(&self) -> Result<Report, Error> {
        self.run_to(&mut std::io::stdout().lock())
    }

    /// [`Check::run`], its instructions written to `out`.
    fn run_to(&self, out: &mut dyn std::io::Write) -> Result<Report, Error> {
        let syntax = Syntax::from_env();
        let mut print = |line: String| {
            // A build script whose stdout is gone cannot report anything anyway.
            let _ = writeln!(out, "{line}");
        };
        let located = match self.locate() {
            Ok(located) => located,
            Err(err) => {
                print(syntax.error(&render_error(&err)));
                return Err(Error::Setup(err));
            }
        };
        let root = located.workspace.root.clone();
        let suggest = Check::suggesting(&located.workspace);
        // Every line names its paths from the workspace root; a command it suggests must run
        // there too, and reach this package's settings.
        let mut print = |line: String| print(suggest.render(&line).into_owned());
        let mut watch = Watch::of(&located.migrations_dir);
        let settings = (located.workspace.manifests()).chain([located.migrations_dir.as_path()]);
        // The Cargo.toml key a migrations directory cargo cannot watch was named by, if any:
        // renamed, it must be renamed there too.
        let dir_setting = (located.workspace.settings.migrations_dir_from)
            .map(|from| setting_in(&located.workspace, "migrations_dir", from));
        for path in settings.filter(|path| watch.needs(path)) {
            let named_by = dir_setting
                .as_deref()
                .filter(|_| path == located.migrations_dir);
            match rerun(&root, path, named_by) {
                Ok(line) => print(line),
                Err(err) => {
                    print(syntax.error(&render_error(&err)));
                    return Err(Error::Setup(completed(err, &suggest)));
                }
            }
        }
        let report = match located.read() {
            Ok(report) => report,
            Err(err) => {
                print(syntax.error(&render_error(&err)));
                return Err(Error::Setup(completed(err, &suggest)));
            }
        };
        // The directory's line covers its files: cargo scans a directory given to
        // `rerun-if-changed` whole (a file added, edited, renamed or removed). A symbolic link
        // to a file elsewhere gets a line of its own ([`Watch`]). One whose path cannot be
        // written as an instruction fails the build after the diagnostics, which may already
        // name it.
        let mut unwritable = None;
        for file in report.links().filter(|file| watch.needs(file)) {
            match rerun(&report.root, file, None) {
                Ok(line) => print(line),
                Err(err) => {
                    unwritable.get_or_insert(err);
                }
            }
        }
        for warning in &report.warnings {
            print(syntax.warning(&display::escape(warning)));
        }
        for diagnostic in &report.checked.diagnostics {
            let line = report.render(diagnostic);
            print(if diagnostic.is_error() {
                syntax.error(&line)
            } else {
                syntax.warning(&line)
            });
        }
        if report.checked.has_errors() {
            return Err(Error::Invalid(Box::new(completed(
                report.refusal(),
                &suggest,
            ))));
        }
        if let Some(err) = unwritable {
            print(syntax.error(&render_error(&err)));
            return Err(Error::Setup(completed(err, &suggest)));
        }
        let written = match (self.embed, std::env::var_os("OUT_DIR")) {
            (true, _) => embed::write_embedded(&report),
            // What an earlier embedding build left must never be compiled in.
            (false, Some(out_dir)) => embed::write_not_embedded(Path::new(&out_dir)),
            (false, None) => Ok(()),
        };
        if let Err(err) = written {
            print(syntax.error(&render_error(&err)));
            return Err(Error::Setup(completed(err, &suggest)));
        }
        Ok(report)
    }

    /// How the commands the check suggests select this package: `-p NAME` when it is a
    /// workspace member (its settings are its own, or the workspace's: `-p` reaches them from
    /// the workspace root, where the check's paths start and a bare command reads the root's),
    /// nothing for a project of one package.
    fn suggesting(workspace: &Workspace) -> Invocation {
        match workspace.member_name() {
            Some(name) => Invocation {
                files: vec!["-p".to_string(), name],
                ..Invocation::default()
            },
            None => Invocation::default(),
        }
    }

    fn locate(&self) -> Result<Located, confiture::Error> {
        let start = match (&self.manifest_dir, std::env::var_os("CARGO_MANIFEST_DIR")) {
            (Some(dir), _) => dir.clone(),
            (None, Some(dir)) => PathBuf::from(dir),
            (None, None) => std::env::current_dir().map_err(|err| {
                confiture::Error::invalid("cannot find the current directory").with_cause(err)
            })?,
        };
        // A setting's error names its Cargo.toml from the root, as every line of the check.
        let workspace = Workspace::discover_shown_from(&start, ShownFrom::Root)?;
        if let Some(version) = self
            .first_version
            .filter(|&v| v < confiture::history::MIN_VERSION)
        {
            return Err(confiture::workspace::first_version_too_low(
                &format!("`Check::first_version({version})` in build.rs"),
                version,
            )
            .with_help("give the version of the directory's first migration, or leave it out"));
        }
        let warnings = self.agree_with(&workspace, &start)?;
        // A builder setting now agrees with the workspace's, or is one they do not hold.
        let migrations_dir = match &self.migrations_dir {
            Some(dir) => builder_dir(&start, dir),
            None => workspace.migrations_dir(),
        };
        let out_dir =
            (self.out_dir.clone()).or_else(|| std::env::var_os("OUT_DIR").map(PathBuf::from));
        if let Some(out_dir) = out_dir {
            refuse_holding_output(&workspace.root, &migrations_dir, &out_dir)?;
        }
        // The library's one rule of a tracking table's name, as for the environment's.
        let tracking_table = (self.tracking_table.as_deref())
            .map(|name| {
                TrackingTable::parse(name).map_err(|mut err| {
                    err.message = format!(
                        "`Check::tracking_table({name:?})` in build.rs: {}",
                        err.message
                    );
                    err
                })
            })
            .transpose()?;
        let options = CheckOptions::default()
            .first_version(workspace.settings.first_version)
            .first_version_from(workspace.settings.first_version_from)
            .tracking_table(tracking_table);
        Ok(Located {
            workspace,
            migrations_dir,
            options,
            warnings,
        })
    }

    /// One owner for each setting: the workspace's (`[package.metadata.confiture]` over
    /// `[workspace.metadata.confiture]`), which every `cargo confiture` command reads. A
    /// builder setting that disagrees with the one the settings hold fails the build, naming
    /// both; one they do not hold fails it too for `first_version` (no command could be given
    /// it: `status` would call the squashed rows missing), and is a warning for
    /// `migrations_dir` (a command can be given `--migrations-dir`). The warnings, as lines.
    fn agree_with(
        &self,
        workspace: &Workspace,
        start: &Path,
    ) -> Result<Vec<String>, confiture::Error> {
        let settings = &workspace.settings;
        let root = &workspace.root;
        let mut warnings = Vec::new();
        if let Some(version) = self.first_version {
            let call = format!("`Check::first_version({version})` in build.rs");
            match (settings.first_version, settings.first_version_from) {
                (Some(held), Some(from)) if held != version => {
                    return Err(disagreement(
                        &call,
                        &format!("{held}"),
                        &setting_in(workspace, "first_version", from),
                        "Check::first_version",
                    ))
                }
                (Some(_), _) => {}
                (None, _) => {
                    return Err(confiture::Error::invalid(format!(
                        "{call} is not in the workspace's settings: the binary would take the \
                         ledger's rows below {version} as squashed, while `cargo confiture \
                         migrate status` and every other command, which read only \
                         `Cargo.toml`, call them missing"
                    ))
                    .with_help(format!(
                        "move it to Cargo.toml: `first_version = {version}` in {}, and remove \
                         the call from build.rs",
                        setting_table(workspace)
                    )))
                }
            }
        }
        if let Some(dir) = &self.migrations_dir {
            let given = builder_dir(start, dir);
            let held = workspace.migrations_dir();
            let call = format!(
                "`Check::migrations_dir({:?})` in build.rs",
                display::path_text(dir)
            );
            let shown = shown_text(root, &given);
            match settings.migrations_dir_from {
                Some(from) if !same_dir(&given, &held) => {
                    return Err(disagreement(
                        &format!("{call} (`{shown}`)"),
                        &format!("`{}`", shown_text(root, &held)),
                        &setting_in(workspace, "migrations_dir", from),
                        "Check::migrations_dir",
                    ))
                }
                Some(_) => {}
                None if same_dir(&given, &held) => {}
                None => warnings.push(format!(
                    "{call} checks `{shown}`, which the workspace's settings do not name: \
                     `cargo confiture` commands read `{}` unless given `--migrations-dir`; \
                     help: add `migrations_dir = \"{}\"` to {} and remove the call from \
                     build.rs",
                    shown_text(root, &held),
                    display::path_text(&display::relative_to(&given, &package_dir(workspace))),
                    setting_table(workspace)
                )),
            }
        }
        Ok(warnings)
    }
}

/// A directory given to [`Check::migrations_dir`], absolute, as the system reaches it:
/// `app/../shared/migrations` is `shared/migrations`, as `lint` shows it (and in the embedded
/// set's `dir`).
fn builder_dir(start: &Path, dir: &Path) -> PathBuf {
    display::without_dot_dot(&start.join(dir))
}

/// Whether two directories are one: the same path, or the same place once resolved.
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// `key` in the table `from` names and the `Cargo.toml:LINE` that holds it, relative to the
/// root ([`Workspace::setting_shown`]).
fn setting_in(workspace: &Workspace, key: &str, from: &'static str) -> String {
    workspace.setting_shown(key, from, ShownFrom::Root)
}

/// The package's own `Cargo.toml` (the root's in a project of one package).
fn package_manifest(workspace: &Workspace) -> Option<&Path> {
    (workspace.package_manifest.as_deref()).or(workspace.manifest.as_deref())
}

/// A `Cargo.toml` as the check's lines show it, relative to the root.
fn shown_manifest(workspace: &Workspace, manifest: Option<&Path>) -> String {
    manifest.map_or_else(
        || "Cargo.toml".to_string(),
        |path| shown_text(&workspace.root, path),
    )
}

/// The table a setting the builder holds alone belongs in: the package's own, whose paths are
/// relative to the package's directory as the builder's are.
fn setting_table(workspace: &Workspace) -> String {
    let manifest = shown_manifest(workspace, package_manifest(workspace));
    format!("`{}` of `{manifest}`", confiture::workspace::PACKAGE_TABLE)
}

/// The directory of the package being built: where the builder's relative paths start.
fn package_dir(workspace: &Workspace) -> PathBuf {
    (package_manifest(workspace).and_then(Path::parent))
        .map_or_else(|| workspace.root.clone(), Path::to_path_buf)
}

/// A builder setting (`call`) that disagrees with the workspace's (`setting`, holding `held`):
/// the workspace's is the owner, so build.rs's call is the one to change.
fn disagreement(call: &str, held: &str, setting: &str, builder: &str) -> confiture::Error {
    confiture::Error::invalid(format!(
        "{call} disagrees with {setting}, which is {held}: the binary would embed one setting \
         while `cargo confiture` commands, which read only Cargo.toml, use the other"
    ))
    .with_help(format!(
        "remove `{builder}` from build.rs (the Cargo.toml setting applies to the build too); \
         if the build.rs value is the right one, change {setting} to it first"
    ))
}

struct Located {
    workspace: Workspace,
    migrations_dir: PathBuf,
    options: CheckOptions,
    /// Builder settings the workspace's do not hold, as `cargo:warning=` lines.
    warnings: Vec<String>,
}

impl Located {
    fn read(self) -> Result<Report, confiture::Error> {
        // An error about the directory shows its paths as every other line does.
        let entries = files::read_dir_shown_from(
            &self.migrations_dir,
            &self.workspace.root,
            files::DirNamedBy::BuildScript,
        )?;
        let mut files: Vec<PathBuf> = entries.iter().map(|e| e.path().to_path_buf()).collect();
        files.sort();
        let checked = files::check(&self.migrations_dir, entries, &self.options);
        Ok(Report {
            root: self.workspace.root,
            manifest: self.workspace.manifest,
            package_manifest: self.workspace.package_manifest,
            migrations_dir: self.migrations_dir,
            files,
            checked,
            options: self.options,
            warnings: self.warnings,
        })
    }
}

impl Report {
    /// How many diagnostics are errors.
    pub fn errors(&self) -> usize {
        self.checked
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count()
    }

    /// The error that fails the build when the directory has errors: [`files::refusal`],
    /// naming the directory relative to the workspace root.
    pub fn refusal(&self) -> confiture::Error {
        let errors = self.checked.diagnostics.iter().filter(|d| d.is_error());
        files::refusal(
            &self.shown(&self.migrations_dir),
            errors,
            "each is listed above",
        )
    }

    /// The paths whose change must rerun the check, as few as cover them, each once (known by
    /// what it resolves to; none that resolves into the migrations directory): the
    /// `Cargo.toml` files read, the migrations directory (cargo scans a
    /// directory whole, so its files need no line of their own) and the files in it that are
    /// symbolic links to files elsewhere. What [`Check::run`] prints, in that order.
    pub fn rerun_paths(&self) -> Vec<PathBuf> {
        let mut watch = Watch::of(&self.migrations_dir);
        (self.manifest.iter().chain(&self.package_manifest))
            .chain([&self.migrations_dir])
            .chain(self.links())
            .filter(|path| watch.needs(path))
            .cloned()
            .collect()
    }

    /// The entries of the directory that are symbolic links, other than those to a directory:
    /// a subdirectory is not read, and the directory's own line notices it come, go or point
    /// elsewhere (a link's change is the directory's), so a line of its own would only have
    /// cargo scan its target a second time.
    fn links(&self) -> impl Iterator<Item = &PathBuf> {
        self.files.iter().filter(|file| {
            std::fs::symlink_metadata(file).is_ok_and(|meta| meta.file_type().is_symlink())
                && !std::fs::metadata(file).is_ok_and(|meta| meta.is_dir())
        })
    }

    /// One diagnostic on one line, its path relative to the workspace root:
    /// `db/migrations/002_a.up.sql: C001: message; help: ...` (`path:line:column:` when the
    /// problem is at a place in the file). Control characters are escaped: a file name holding
    /// a newline must not end the instruction and start another one; a byte that is not UTF-8
    /// is written `\xff` ([`display::path_text`]), as lint writes it.
    pub fn render(&self, diagnostic: &Diagnostic) -> String {
        let path = shown_text(&self.root, &diagnostic.path);
        let mut line = diagnostic.location(&path);
        line += &format!(": {}: {}", diagnostic.code, diagnostic.message);
        if let Some(help) = &diagnostic.help {
            line += &format!("; help: {help}");
        }
        display::escape(&line).into_owned()
    }

    fn shown(&self, path: &Path) -> PathBuf {
        relative_to_root(&self.root, path)
    }
}

/// Which paths get a `rerun-if-changed` line: each path cargo must watch, once. A path is
/// known by what it resolves to (`canonicalize`; as given when it resolves to nothing, a
/// broken link): one that resolves to a path already watched, or into the migrations directory
/// (cargo scans that whole: a link to a file beside it, a `Cargo.toml` in it), needs no line.
struct Watch {
    /// The migrations directory, resolved; `None` when it cannot be.
    dir: Option<PathBuf>,
    /// What the paths watched so far resolve to.
    watched: Vec<PathBuf>,
}

impl Watch {
    fn of(migrations_dir: &Path) -> Watch {
        Watch {
            dir: migrations_dir.canonicalize().ok(),
            watched: Vec::new(),
        }
    }

    /// Whether `path` needs a line of its own; if so, it is watched from now on.
    fn needs(&mut self, path: &Path) -> bool {
        let resolved = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let in_dir =
            (self.dir.as_ref()).is_some_and(|dir| resolved != *dir && resolved.starts_with(dir));
        if in_dir || self.watched.contains(&resolved) {
            return false;
        }
        self.watched.push(resolved);
        true
    }
}

/// `path` as every line of the check shows it, the errors about the directory itself
/// included ([`files::read_dir_shown_from`]): relative to the workspace root `root`
/// ([`display::relative_to`]; the root itself is `.`).
fn relative_to_root(root: &Path, path: &Path) -> PathBuf {
    display::relative_to(path, root)
}

/// [`relative_to_root`] as text in a line: a byte that is not UTF-8 is `\xff`
/// ([`display::path_text`]), as lint writes it.
fn shown_text(root: &Path, path: &Path) -> String {
    display::path_text(&relative_to_root(root, path)).into_owned()
}

/// Refuses a migrations directory `dir` that holds the build's output directory `out_dir`
/// (`OUT_DIR`, inside cargo's target directory: `migrations_dir = "."` with `target/` in the
/// package): cargo scans a directory given to `rerun-if-changed` whole, so it would find the
/// files each build writes there newer than the build, and run the build script again on
/// every build. Paths that cannot be resolved are left to the reading of the directory.
fn refuse_holding_output(root: &Path, dir: &Path, out_dir: &Path) -> Result<(), confiture::Error> {
    let (Ok(resolved), Ok(output)) = (dir.canonicalize(), out_dir.canonicalize()) else {
        return Ok(());
    };
    if !output.starts_with(&resolved) {
        return Ok(());
    }
    // Resolved (`app/..` is the root), as the root is.
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let shown = |path: &Path| shown_text(&root, path);
    Err(confiture::Error::invalid(format!(
        "migrations directory `{}` holds cargo's build output (`{}`): cargo watches the \
         directory whole, so every build would find the files the last one wrote there and \
         run the build script again",
        shown(&resolved),
        shown(&output)
    ))
    .with_help(format!(
        "give the migrations a directory of their own: `migrations_dir = \"db/migrations\"` in \
         {}; or build with CARGO_TARGET_DIR outside it",
        confiture::workspace::SETTINGS_TABLES
    )))
}

/// The `cargo:rerun-if-changed` line of `path`, or why cargo could not read it back. Cargo has
/// no escapes in build-script instructions: each is one line of UTF-8 text, read to its end.
/// A path with a line break (or any control character) would end the instruction and start
/// another one of the file name's choosing; a path that is not UTF-8 would be read back as
/// another path. Such a path is refused, never printed; the refusal shows it relative to the
/// workspace root `root`, as every other line of the check does ([`shown_text`]); when the
/// path was written in a setting (`named_by`: `` `migrations_dir` in `[...]` of
/// `Cargo.toml:LINE` ``), the help says to write the new name there too.
fn rerun(root: &Path, path: &Path, named_by: Option<&str>) -> Result<String, confiture::Error> {
    let Some(why) = unwritable_because(path) else {
        return Ok(format!("cargo:rerun-if-changed={}", path.display()));
    };
    let shown = display::escape(&shown_text(root, path)).into_owned();
    // A root whose own path cannot be watched fails every path, and the part of the path at
    // fault is the one the relative form leaves out: named then.
    let (message, named_by) = match unwritable_because(&relative_to_root(root, path)) {
        Some(_) => (
            format!("cannot watch {shown} for changes: its path {why}"),
            named_by,
        ),
        // The fault is in the root's path, which no setting writes.
        None => (
            format!(
                "cannot watch {shown} for changes: the path of the workspace root, {}, {why}",
                display::escape(&display::path_text(root))
            ),
            None,
        ),
    };
    let rename = match named_by {
        Some(setting) => {
            format!("rename it (or the directory holding it), and write the new name in {setting}")
        }
        None => "rename it (or the directory holding it)".to_string(),
    };
    Err(confiture::Error::invalid(message).with_help(format!(
        "{rename}: a build script tells cargo which files to watch one path per line of UTF-8 \
         text, with no escapes"
    )))
}

/// Why cargo could not read `path` back from an instruction, if it could not.
fn unwritable_because(path: &Path) -> Option<&'static str> {
    match path.to_str() {
        Some(text) if !text.chars().any(char::is_control) => None,
        Some(_) => Some("holds a control character (a line break ends a cargo instruction)"),
        None => Some("is not UTF-8"),
    }
}

/// `err` with the commands its help and details suggest completed by `suggest`.
fn completed(mut err: confiture::Error, suggest: &Invocation) -> confiture::Error {
    err.help = err.help.map(|help| suggest.render(&help).into_owned());
    for detail in &mut err.details {
        *detail = suggest.render(detail).into_owned();
    }
    err
}

/// An error and its help on one line (cargo instructions are one line each).
fn render_error(err: &confiture::Error) -> String {
    let mut line = err.message_with_cause();
    for detail in &err.details {
        line += &format!("; {detail}");
    }
    if let Some(help) = &err.help {
        line += &format!("; help: {help}");
    }
    display::escape(&line).into_owned()
}

/// Which instruction syntax the package's `rust-version` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// `cargo::error=` (cargo 1.84+).
    Modern,
    /// Errors as `cargo:warning=error: ...`; the exit code fails the build.
    Legacy,
}

impl Syntax {
    fn from_env() -> Syntax {
        Syntax::for_rust_version(std::env::var("CARGO_PKG_RUST_VERSION").ok().as_deref())
    }

    fn for_rust_version(rust_version: Option<&str>) -> Syntax {
        let Some(version) = rust_version.filter(|v| !v.is_empty()) else {
            return Syntax::Modern;
        };
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) >= (1, 84) {
            Syntax::Modern
        } else {
            Syntax::Legacy
        }
    }

    fn error(self, line: &str) -> String {
        match self {
            Syntax::Modern => format!("cargo::error={line}"),
            Syntax::Legacy => format!("cargo:warning=error: {line}"),
        }
    }

    fn warning(self, line: &str) -> String {
        format!("cargo:warning={line}")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Setup(err) => f.write_str(&render_error(err)),
            // Its details repeat the diagnostics printed above: the message and help only.
            Error::Invalid(err) => match &err.help {
                Some(help) => write!(
                    f,
                    "{}; help: {}",
                    display::escape(&err.message_with_cause()),
                    display::escape(help)
                ),
                None => f.write_str(&display::escape(&err.message_with_cause())),
            },
        }
    }
}

/// The same as `Display`: `fn main() -> Result<(), Error>` prints `Error: {:?}`, and that
/// line should read as a sentence.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use confiture_test_support::TempDir;

    /// The member's `Cargo.toml`, without settings of its own.
    const APP_PACKAGE: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n";

    /// A check to run, made when it is run.
    type MakeCheck = fn() -> Check;

    fn workspace(metadata: &str) -> TempDir {
        let tmp = TempDir::new("confiture_build");
        tmp.write("Cargo.toml", &format!("[workspace]\n{metadata}"));
        tmp.write("app/Cargo.toml", APP_PACKAGE);
        tmp
    }

    /// Gives the member `settings` as its `[package.metadata.confiture]` table.
    fn member_settings(tmp: &TempDir, settings: &str) {
        let manifest = format!("{APP_PACKAGE}\n[package.metadata.confiture]\n{settings}");
        tmp.write("app/Cargo.toml", &manifest);
    }

    /// A workspace member's check names its paths from the workspace root, and said "`cargo
    /// confiture migrate generate NAME` creates it" and "`cargo confiture lint` explains each
    /// rule": run there, those read the root's settings (a root with migrations of its own
    /// got the member's new migration; one without refused). Each suggested command carries
    /// `-p NAME`, in the `cargo::error=` lines and in the error that fails the build; a
    /// project of one package gets no `-p`.
    #[test]
    fn a_member_s_suggested_commands_select_the_member() {
        let tmp = workspace("[workspace.metadata.confiture]\nmigrations_dir = \"db/migrations\"\n");
        member_settings(&tmp, "migrations_dir = \"migrations\"\n");
        let run = |dir: &str| {
            let mut out = Vec::new();
            let result = Check::new()
                .manifest_dir(tmp.path.join(dir))
                .run_to(&mut out);
            let err = match result {
                Err(err) => err.to_string(),
                Ok(report) => panic!("{dir}: passed: {report:?}"),
            };
            (String::from_utf8(out).unwrap(), err)
        };
        // No directory yet.
        let (printed, err) = run("app");
        for text in [&printed, &err] {
            assert!(
                text.contains("`cargo confiture migrate generate NAME -p app` creates it"),
                "{text}"
            );
        }
        // A broken directory: the rule's explanation is the member's too.
        tmp.write("app/migrations/001_a.up.sql", "SELECT 1;\n");
        let (_, err) = run("app");
        assert!(
            err.contains("`cargo confiture lint -p app` explains each rule"),
            "{err}"
        );

        // One package, no workspace: the commands are as written.
        let single = TempDir::new("confiture_build_single");
        single.write("Cargo.toml", APP_PACKAGE);
        let mut out = Vec::new();
        let err = match Check::new()
            .manifest_dir(single.path.clone())
            .run_to(&mut out)
        {
            Err(err) => err.to_string(),
            Ok(report) => panic!("passed: {report:?}"),
        };
        assert!(
            err.contains("`cargo confiture migrate generate NAME` creates it"),
            "{err}"
        );
    }

    #[test]
    fn finds_the_directory_from_the_workspace_settings() {
        let tmp = workspace(
            "[workspace.metadata.confiture]\nmigrations_dir = \"sql\"\nfirst_version = 7\n",
        );
        tmp.write("sql/007_a.up.sql", "SELECT 1;\n");
        tmp.write("sql/007_a.down.sql", "SELECT 1;\n");
        tmp.write("sql/README.md", "not read\n");
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        assert_eq!(report.errors(), 0);
        assert_eq!(report.migrations_dir, tmp.path.join("sql"));
        assert_eq!(
            report.rerun_paths(),
            [
                tmp.path.join("Cargo.toml"),
                // The member's own: adding a `[package.metadata.confiture]` reruns the check.
                tmp.path.join("app/Cargo.toml"),
                // The directory covers its files: no line for each.
                tmp.path.join("sql"),
            ]
        );
        // A symbolic link has its own: its target is elsewhere.
        #[cfg(unix)]
        {
            tmp.write("shared/007_b.up.sql", "SELECT 1;\n");
            tmp.write("sql/007_b.down.sql", "SELECT 1;\n");
            std::os::unix::fs::symlink(
                tmp.path.join("shared/007_b.up.sql"),
                tmp.path.join("sql/007_b.up.sql"),
            )
            .unwrap();
            let report = Check::new()
                .manifest_dir(tmp.path.join("app"))
                .inspect()
                .unwrap();
            assert_eq!(
                report.rerun_paths()[2..],
                [tmp.path.join("sql"), tmp.path.join("sql/007_b.up.sql")]
            );
        }
    }

    /// A link to nowhere named like a confiture (Python) migration (`002_b.py`) was left out
    /// silently: the build passed. It fails the build as any unreadable migration file does,
    /// naming the file and where the link points.
    #[cfg(unix)]
    #[test]
    fn a_link_to_nowhere_named_like_a_migration_fails_the_build() {
        let tmp = workspace("[workspace.metadata.confiture]\nmigrations_dir = \"sql\"\n");
        tmp.write("sql/001_a.up.sql", "SELECT 1;\n");
        tmp.write("sql/001_a.down.sql", "SELECT 1;\n");
        std::os::unix::fs::symlink("gone.py", tmp.path.join("sql/002_b.py")).unwrap();
        let mut out = Vec::new();
        let result = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .run_to(&mut out);
        assert!(matches!(result, Err(Error::Invalid(_))), "{result:?}");
        let printed = String::from_utf8(out).unwrap();
        assert!(
            printed.contains(
                "cargo::error=sql/002_b.py: C010: cannot read `002_b.py`: it is a symbolic link \
                 to `gone.py`, which does not exist"
            ),
            "{printed}"
        );
    }

    /// A down file whose `-- confiture:irreversible` sits below a statement, or whose
    /// statements only change the session, fails the build as `lint` fails (C194, C008): its
    /// rollback would run and remove the ledger row, the schema unchanged.
    #[test]
    fn a_down_file_that_reverses_nothing_fails_the_build() {
        let tmp = workspace("[workspace.metadata.confiture]\nmigrations_dir = \"sql\"\n");
        tmp.write("sql/001_a.up.sql", "CREATE TABLE a (id int);\n");
        tmp.write(
            "sql/001_a.down.sql",
            "DELETE FROM a;\n-- confiture:irreversible\n",
        );
        tmp.write("sql/002_b.up.sql", "CREATE TABLE b (id int);\n");
        tmp.write("sql/002_b.down.sql", "SET search_path = public;\n");
        let mut out = Vec::new();
        let result = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .run_to(&mut out);
        assert!(matches!(result, Err(Error::Invalid(_))), "{result:?}");
        let printed = String::from_utf8(out).unwrap();
        for (file, code) in [
            ("sql/001_a.down.sql", "C194"),
            ("sql/002_b.down.sql", "C008"),
        ] {
            assert!(
                printed.contains(&format!("cargo::error={file}")) && printed.contains(code),
                "{file} {code}: {printed}"
            );
        }
    }

    /// A symbolic link to a directory in the migrations directory (a subdirectory, not read)
    /// got a `rerun-if-changed` line of its own, though the directory's line covers it: cargo
    /// scanned its target twice. Each path is watched once, by what it resolves to: no line
    /// for a link to a directory, for a second link to a file already watched, or for a link
    /// to a file in the migrations directory; a link to a file elsewhere keeps its line.
    #[cfg(unix)]
    #[test]
    fn each_watched_path_gets_one_line() {
        use std::os::unix::fs::symlink;
        let tmp = workspace("[workspace.metadata.confiture]\nmigrations_dir = \"sql\"\n");
        tmp.write("sql/001_a.up.sql", "SELECT 1;\n");
        tmp.write("sql/001_a.down.sql", "SELECT 1;\n");
        tmp.write("shared/big/notes.txt", "not read\n");
        symlink(tmp.path.join("shared/big"), tmp.path.join("sql/sub")).unwrap();
        symlink("../shared/big", tmp.path.join("sql/sub_again")).unwrap();
        tmp.write("shared/up.sql", "SELECT 1;\n");
        for name in ["002_b", "003_c"] {
            let up = tmp.path.join(format!("sql/{name}.up.sql"));
            symlink(tmp.path.join("shared/up.sql"), up).unwrap();
            tmp.write(&format!("sql/{name}.down.sql"), "SELECT 1;\n");
        }
        symlink("001_a.down.sql", tmp.path.join("sql/004_d.down.sql")).unwrap();
        tmp.write("sql/004_d.up.sql", "SELECT 1;\n");
        let mut out = Vec::new();
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .run_to(&mut out)
            .unwrap();
        let printed = String::from_utf8(out).unwrap();
        let watched: Vec<&str> = printed
            .lines()
            .filter_map(|line| line.strip_prefix("cargo:rerun-if-changed="))
            .collect();
        let expected = [
            tmp.path.join("Cargo.toml"),
            tmp.path.join("app/Cargo.toml"),
            tmp.path.join("sql"),
            tmp.path.join("sql/002_b.up.sql"),
        ];
        let expected: Vec<String> = expected.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(watched, expected, "{printed}");
        assert_eq!(
            report.rerun_paths(),
            expected.iter().map(PathBuf::from).collect::<Vec<_>>()
        );
    }

    /// `migrations_dir = "."` (the package's directory, `Check::migrations_dir(".")`, or the
    /// workspace's root above it) with cargo's target directory inside it made cargo run the
    /// build script again on every build: it scans a watched directory whole, and found the
    /// files the last build wrote in `target/` newer than that build ("the file `` has
    /// changed"). A migrations directory that holds the build's output directory (`OUT_DIR`)
    /// is refused, naming both relative to the workspace root; one that does not (the target
    /// directory elsewhere, `CARGO_TARGET_DIR`) is checked as any other.
    #[test]
    fn a_migrations_dir_holding_the_build_output_is_refused() {
        let tmp = workspace("");
        tmp.write("app/001_a.up.sql", "SELECT 1;\n");
        tmp.write("app/001_a.down.sql", "SELECT 1;\n");
        let inside = tmp.path.join("app/target/debug/build/app-0123/out");
        let elsewhere = TempDir::new("confiture_build_target");
        let outside = elsewhere.path.join("debug/build/app-0123/out");
        for out in [&inside, &outside] {
            fs::create_dir_all(out).unwrap();
        }
        // The package's setting is written last: a builder directory that disagreed with it
        // would be refused for that first.
        let by_metadata = || {
            member_settings(&tmp, "migrations_dir = \".\"\n");
            Check::new()
        };
        let checks: [(&str, &dyn Fn() -> Check); 3] = [
            ("Check::migrations_dir(\".\")", &|| {
                Check::new().migrations_dir(".")
            }),
            ("the workspace root", &|| Check::new().migrations_dir("..")),
            ("migrations_dir = \".\"", &by_metadata),
        ];
        for (how, check) in checks {
            let check = check().manifest_dir(tmp.path.join("app"));
            let mut inside_check = check.clone();
            inside_check.out_dir = Some(inside.clone());
            let mut out = Vec::new();
            let err = match inside_check.run_to(&mut out) {
                Err(Error::Setup(err)) => err,
                other => panic!("{how}: {other:?}"),
            };
            assert!(
                err.message.contains("holds cargo's build output")
                    && err
                        .message
                        .contains("`app/target/debug/build/app-0123/out`"),
                "{how}: {}",
                err.message
            );
            assert!(
                !err.message.contains(&*tmp.path.to_string_lossy()),
                "{how}: {err}"
            );
            let dir = if how == "the workspace root" {
                "`.`"
            } else {
                "`app`"
            };
            assert!(
                err.message
                    .starts_with(&format!("migrations directory {dir} holds")),
                "{how}: {err}"
            );
            let help = err.help.clone().unwrap_or_default();
            assert!(help.contains("CARGO_TARGET_DIR"), "{how}: {help}");
            let printed = String::from_utf8(out).unwrap();
            // Nothing watched: the error alone.
            assert!(!printed.contains("rerun-if-changed"), "{how}: {printed}");
            assert!(
                printed.contains("holds cargo's build output"),
                "{how}: {printed}"
            );
            let mut outside_check = check;
            outside_check.out_dir = Some(outside.clone());
            assert!(outside_check.inspect().is_ok(), "{how}");
        }
    }

    /// A clean build printed a `rerun-if-changed` line for every file of the directory, which
    /// `cargo build -vv` showed as noise: it prints what cargo needs (the `Cargo.toml` files,
    /// the directory, which cargo scans whole) and nothing else — no warning, no line per file.
    #[test]
    fn a_clean_check_prints_only_what_cargo_needs() {
        let tmp = workspace("[workspace.metadata.confiture]\nmigrations_dir = \"sql\"\n");
        for name in ["001_a", "002_b", "003_c"] {
            tmp.write(&format!("sql/{name}.up.sql"), "SELECT 1;\n");
            tmp.write(&format!("sql/{name}.down.sql"), "SELECT 1;\n");
        }
        let mut out = Vec::new();
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .run_to(&mut out)
            .unwrap();
        assert_eq!(report.errors(), 0);
        let printed = String::from_utf8(out).unwrap();
        let expected: Vec<String> = [
            tmp.path.join("Cargo.toml"),
            tmp.path.join("app/Cargo.toml"),
            tmp.path.join("sql"),
        ]
        .iter()
        .map(|path| format!("cargo:rerun-if-changed={}", path.display()))
        .collect();
        assert_eq!(printed.lines().collect::<Vec<_>>(), expected, "{printed}");
    }

    /// hos4: a member whose migrations directory climbs out of it (`../shared/migrations`, in
    /// its `[package.metadata.confiture]` or given to `Check::migrations_dir`) failed the build
    /// naming `app/../shared/migrations/002_b.up.sql`, and embedded that `dir`, where `lint`
    /// names `shared/migrations/002_b.up.sql`: the directory is the one the system reaches,
    /// shown as lint shows it, in every line and in the embedded set.
    #[test]
    fn a_directory_that_climbs_out_of_the_member_is_shown_without_dot_dot() {
        let tmp = workspace("");
        member_settings(&tmp, "migrations_dir = \"../shared/migrations\"\n");
        tmp.write("shared/migrations/001_a.up.sql", "SELECT 1;\n");
        tmp.write("shared/migrations/001_a.down.sql", "SELECT 1;\n");
        let by_table = Check::new().manifest_dir(tmp.path.join("app"));
        let by_builder = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .migrations_dir("./../shared/migrations");
        for check in [by_table, by_builder] {
            let report = check.inspect().unwrap();
            assert_eq!(report.migrations_dir, tmp.path.join("shared/migrations"));
            assert!(report
                .rerun_paths()
                .contains(&tmp.path.join("shared/migrations")));
            let package = Package {
                name: "app".into(),
                version: "0.1.0".into(),
            };
            let source = embed_source(&report, &package).unwrap();
            assert!(source.contains("dir: \"shared/migrations\","), "{source}");
            assert!(!source.contains(".."), "{source}");
        }
        tmp.write("shared/migrations/002_b.up.sql", "SELECT 1;\n");
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        let line = report.render(&report.checked.diagnostics[0]);
        assert!(
            line.starts_with("shared/migrations/002_b.up.sql: C001: "),
            "{line}"
        );
        let refusal = report.refusal();
        assert!(
            refusal.message.starts_with("shared/migrations has 1 error"),
            "{}",
            refusal.message
        );
    }

    /// A member's `[package.metadata.confiture]` overrides the workspace's table: each member
    /// checks its own directory.
    #[test]
    fn a_member_checks_the_directory_of_its_package_table() {
        let tmp = workspace("[workspace.metadata.confiture]\nmigrations_dir = \"sql\"\n");
        member_settings(&tmp, "migrations_dir = \"migrations\"\nfirst_version = 2\n");
        tmp.write("app/migrations/002_a.up.sql", "SELECT 1;\n");
        tmp.write("app/migrations/002_a.down.sql", "SELECT 1;\n");
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        assert_eq!(report.migrations_dir, tmp.path.join("app/migrations"));
        assert_eq!(report.errors(), 0, "{:?}", report.checked.diagnostics);
        assert_eq!(
            report.package_manifest,
            Some(tmp.path.join("app/Cargo.toml"))
        );
    }

    #[test]
    fn renders_diagnostics_relative_to_the_root_on_one_line() {
        let tmp = workspace("");
        tmp.write("db/migrations/001_a.up.sql", "SELECT 1;\n");
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        assert_eq!(report.errors(), 1);
        let line = report.render(&report.checked.diagnostics[0]);
        assert!(
            line.starts_with("db/migrations/001_a.up.sql: C001: `001_a.up.sql` has no down file; help: create `001_a.down.sql`"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    /// N37: a misnamed migration file failed the build with its C006 and with diagnostics
    /// contradicting its rename (C002 "restore the up file" beside the misnamed up file, C004
    /// "renumber the next migration" beside a misnamed pair): the build check is `lint`'s, and
    /// reports the C006 alone.
    #[test]
    fn a_misnamed_file_fails_the_build_with_its_bad_name_alone() {
        for misnamed in [
            &["002-b.up.sql", "002_b.down.sql"][..],
            &["002_b.up.sql", "002_b.Down.sql"],
            &["2_b.up.sql", "2_b.down.sql"],
        ] {
            let tmp = workspace("");
            for file in [
                "001_a.up.sql",
                "001_a.down.sql",
                "003_c.up.sql",
                "003_c.down.sql",
            ]
            .iter()
            .chain(misnamed)
            {
                tmp.write(&format!("db/migrations/{file}"), "SELECT 1;\n");
            }
            let report = Check::new()
                .manifest_dir(tmp.path.join("app"))
                .inspect()
                .unwrap();
            let lines: Vec<String> = (report.checked.diagnostics.iter())
                .map(|d| report.render(d))
                .collect();
            let codes: Vec<&str> = (report.checked.diagnostics.iter())
                .map(|d| d.code)
                .collect();
            let bad = (misnamed.iter())
                .filter(|f| confiture::files::name::parse_file_name(f).is_err())
                .count();
            assert_eq!(codes, vec!["C006"; bad], "{misnamed:?}: {lines:#?}");
            assert_eq!(report.errors(), bad);
        }
    }

    /// The environment's tracking table, which the build cannot read from its YAML file, is
    /// given to the builder: C108 then looks for that name (before, only for `tb_confiture`,
    /// and a migration writing `ops.history` was embedded, to be refused at run time).
    #[test]
    fn the_tracking_table_given_is_the_one_migrations_must_not_write() {
        let tmp = workspace("");
        tmp.write("db/migrations/001_a.up.sql", "DELETE FROM ops.history;\n");
        tmp.write("db/migrations/001_a.down.sql", "TRUNCATE tb_confiture;\n");
        let check = Check::new().manifest_dir(tmp.path.join("app"));
        let found = |report: &Report| {
            (report.checked.diagnostics.iter())
                .map(|d| (d.code, display::relative_to(&d.path, &report.root)))
                .collect::<Vec<_>>()
        };
        let report = check.clone().inspect().unwrap();
        assert_eq!(
            found(&report),
            [("C108", PathBuf::from("db/migrations/001_a.down.sql"))]
        );
        let report = check
            .clone()
            .tracking_table("ops.history")
            .inspect()
            .unwrap();
        assert_eq!(
            found(&report),
            [("C108", PathBuf::from("db/migrations/001_a.up.sql"))]
        );
        let line = report.render(&report.checked.diagnostics[0]);
        assert!(line.contains("DELETE FROM ops.history"), "{line}");
        // A name that is no tracking table's fails the build, naming the call.
        let err = check
            .tracking_table("pg_catalog.history")
            .inspect()
            .unwrap_err();
        assert!(
            err.message
                .starts_with("`Check::tracking_table(\"pg_catalog.history\")` in build.rs"),
            "{err}"
        );
        assert!(err.message.contains("system schema"), "{err}");
    }

    #[test]
    fn a_problem_at_a_place_in_a_file_is_shown_with_its_line_and_column() {
        let tmp = workspace("");
        tmp.write("db/migrations/001_a.up.sql", "SELECT 1;\n  COMMIT;\n");
        tmp.write("db/migrations/001_a.down.sql", "SELECT 1;\n");
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        let line = report.render(&report.checked.diagnostics[0]);
        assert!(
            line.starts_with("db/migrations/001_a.up.sql:2:3: C100: COMMIT at top level"),
            "{line}"
        );
    }

    #[test]
    fn a_file_name_cannot_inject_a_cargo_instruction() {
        let tmp = workspace("");
        tmp.write(
            "db/migrations/001_a\ncargo::rustc-env=X=1.up.sql",
            "SELECT 1;\n",
        );
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        for d in &report.checked.diagnostics {
            let line = report.render(d);
            assert!(!line.contains('\n'), "{line}");
            assert!(line.contains("\\ncargo::rustc-env"), "{line}");
        }
        assert!(!report.checked.diagnostics.is_empty());
    }

    /// A path was printed as it was: a newline in it ended the `rerun-if-changed` line and the
    /// rest was read by cargo as an instruction of the file name's choosing.
    #[test]
    fn a_path_cargo_cannot_read_back_is_never_printed() {
        for name in ["a\ncargo::rustc-env=X=1", "a\rb", "a\tb", "a\u{1b}[2Jb"] {
            let path = format!("/w/db/{name}/001_a.up.sql");
            let err = rerun(Path::new("/w"), Path::new(&path), None).unwrap_err();
            assert_eq!(err.kind, confiture::ErrorKind::Invalid);
            let line = render_error(&err);
            assert!(!line.chars().any(char::is_control), "{line:?}");
            assert!(
                line.starts_with("cannot watch db/"),
                "names the path: {line}"
            );
            assert!(line.contains("help: rename it"), "{line}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let path = Path::new(std::ffi::OsStr::from_bytes(b"/w/db/\xff.up.sql"));
            let err = rerun(Path::new("/w"), path, None).unwrap_err();
            assert!(err.message.contains("is not UTF-8"), "{}", err.message);
        }
        // A root that cannot be watched is named: the relative path does not hold the fault.
        let err = rerun(Path::new("/w\tx"), Path::new("/w\tx/Cargo.toml"), None).unwrap_err();
        assert_eq!(
            render_error(&err).split("; help").next().unwrap(),
            "cannot watch Cargo.toml for changes: the path of the workspace root, /w\\tx, \
             holds a control character (a line break ends a cargo instruction)"
        );
        assert_eq!(
            rerun(
                Path::new("/w"),
                Path::new("/w/db/migrations/001 a é.up.sql"),
                None
            )
            .unwrap(),
            "cargo:rerun-if-changed=/w/db/migrations/001 a é.up.sql"
        );
    }

    /// The "cannot watch" refusal of a migrations directory whose path cargo cannot read back
    /// named it by its absolute path, while every other line of the check (the directory's
    /// own errors, `files::read_dir_shown_from`, included) names it relative to the workspace
    /// root: it is named that way too, whichever way the directory was given.
    #[test]
    fn a_directory_cargo_cannot_watch_is_named_relative_to_the_root() {
        let by_table = workspace("[workspace.metadata.confiture]\nmigrations_dir = \"db/a\\tb\"\n");
        let by_builder = workspace("");
        let mut cases = vec![
            (
                Check::new().manifest_dir(by_table.path.join("app")),
                &by_table,
                "db/a\\tb",
            ),
            (
                Check::new()
                    .manifest_dir(by_builder.path.join("app"))
                    .migrations_dir("../db/a\tb"),
                &by_builder,
                "db/a\\tb",
            ),
        ];
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let name = std::ffi::OsStr::from_bytes(b"../db/n\xff");
            let check = Check::new()
                .manifest_dir(by_builder.path.join("app"))
                .migrations_dir(name);
            cases.push((check, &by_builder, "db/n\\xff"));
        }
        for (check, tmp, shown) in cases {
            let mut out = Vec::new();
            let err = match check.run_to(&mut out) {
                Err(Error::Setup(err)) => err,
                other => panic!("{shown}: {other:?}"),
            };
            let line = render_error(&err);
            assert!(
                line.starts_with(&format!("cannot watch {shown} for changes: its path ")),
                "{line}"
            );
            let root = tmp.path.to_string_lossy();
            assert!(!line.contains(&*root), "{line}");
            assert!(String::from_utf8(out).unwrap().contains(&line));
        }
    }

    /// r2ws: a `migrations_dir` cargo cannot watch (a control character in it) was refused
    /// with "rename it", never saying where the name is written: when Cargo.toml set it, the
    /// help names the key, its table and its file and line, from the workspace root, so the
    /// rename is made in both places; a directory the builder names alone gets no such help.
    #[test]
    fn a_directory_cargo_cannot_watch_names_the_setting_that_set_it() {
        let by_workspace =
            workspace("[workspace.metadata.confiture]\nmigrations_dir = \"db/a\\tb\"\n");
        let by_package = workspace("");
        member_settings(&by_package, "migrations_dir = \"m\\nx\"\n");
        let by_builder = workspace("");
        let cases = [
            (
                Check::new().manifest_dir(by_workspace.path.join("app")),
                Some("`migrations_dir` in `[workspace.metadata.confiture]` of `Cargo.toml:3`"),
            ),
            (
                // Agreeing with the setting, the builder's call does not own the name.
                Check::new()
                    .manifest_dir(by_workspace.path.join("app"))
                    .migrations_dir("../db/a\tb"),
                Some("`migrations_dir` in `[workspace.metadata.confiture]` of `Cargo.toml:3`"),
            ),
            (
                Check::new().manifest_dir(by_package.path.join("app")),
                Some("`migrations_dir` in `[package.metadata.confiture]` of `app/Cargo.toml:6`"),
            ),
            (
                Check::new()
                    .manifest_dir(by_builder.path.join("app"))
                    .migrations_dir("../db/a\tb"),
                None,
            ),
        ];
        for (check, setting) in cases {
            let err = match check.run_to(&mut Vec::new()) {
                Err(Error::Setup(err)) => err,
                other => panic!("{setting:?}: {other:?}"),
            };
            let line = render_error(&err);
            assert!(line.starts_with("cannot watch "), "{line}");
            let help = err.help.as_deref().unwrap_or_default();
            assert!(help.starts_with("rename it"), "{help}");
            match setting {
                Some(setting) => assert!(help.contains(setting), "{help}"),
                None => assert!(!help.contains("Cargo.toml"), "{help}"),
            }
        }
    }

    /// A name that is not UTF-8 was shown with `�` as the line's location (two such names
    /// alike) while the message escaped it: both are `\xff` now, as lint writes it.
    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_is_shown_escaped_as_lint_shows_it() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let tmp = workspace("");
        tmp.write("db/migrations/001_a.up.sql", "SELECT 1;\n");
        tmp.write("db/migrations/001_a.down.sql", "SELECT 1;\n");
        let dir = tmp.path.join("db/migrations");
        for name in [&b"002_n\xff.up.sql"[..], b"002_n\xfe.up.sql"] {
            fs::write(dir.join(OsStr::from_bytes(name)), "SELECT 1;\n").unwrap();
        }
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        let lines: Vec<String> = report
            .checked
            .diagnostics
            .iter()
            .map(|d| report.render(d))
            .collect();
        for prefix in [
            "db/migrations/002_n\\xff.up.sql: C006: ",
            "db/migrations/002_n\\xfe.up.sql: C006: ",
        ] {
            assert!(
                lines.iter().any(|l| l.starts_with(prefix)),
                "{prefix}\n{lines:#?}"
            );
        }
        assert!(!lines.iter().any(|l| l.contains('\u{fffd}')), "{lines:#?}");
        // The path cargo cannot be told to watch is named the same way.
        let err = rerun(
            &tmp.path,
            &dir.join(OsStr::from_bytes(b"002_n\xff.up.sql")),
            None,
        )
        .unwrap_err();
        let line = render_error(&err);
        assert!(line.contains("002_n\\xff.up.sql"), "{line}");
        assert!(!line.contains('\u{fffd}'), "{line}");
    }

    /// The README shows the line a missing down file prints, exactly.
    #[test]
    fn the_readme_shows_what_is_printed() {
        let tmp = workspace("");
        for v in ["001_a", "002_b"] {
            tmp.write(&format!("db/migrations/{v}.up.sql"), "SELECT 1;\n");
            tmp.write(&format!("db/migrations/{v}.down.sql"), "SELECT 1;\n");
        }
        tmp.write("db/migrations/003_x.up.sql", "SELECT 1;\n");
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        let line = Syntax::Modern.error(&report.render(&report.checked.diagnostics[0]));
        let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("read README.md");
        assert!(
            readme.lines().any(|l| l == line),
            "README.md should show the build line as printed:\n{line}"
        );
    }

    /// `Check::first_version(v)` in build.rs with no `first_version` in Cargo.toml: the
    /// embedded set took the ledger's rows below v as squashed, while `migrate status`, which
    /// reads only Cargo.toml (`Workspace::discover`), called them missing (exit 7). Two places
    /// decided one setting. Now, for each builder setting and each way the workspace's
    /// settings hold it (the same, another value, another table, not at all), the check
    /// either fails the build or embeds exactly what the commands read — a directory the
    /// settings do not name with a warning saying which key to add.
    #[test]
    fn the_builder_never_embeds_settings_the_commands_do_not_read() {
        let tables = [
            "",
            "[workspace.metadata.confiture]\nfirst_version = 3\n",
            "[workspace.metadata.confiture]\nfirst_version = 7\n",
            "[workspace.metadata.confiture]\nmigrations_dir = \"app/migrations\"\n",
            "[workspace.metadata.confiture]\nmigrations_dir = \"sql\"\n",
        ];
        let members = [
            "",
            "first_version = 7\n",
            "migrations_dir = \"migrations\"\n",
        ];
        let checks: [(&str, MakeCheck); 4] = [
            ("first_version(3)", || Check::new().first_version(3)),
            ("migrations_dir", || {
                Check::new().migrations_dir("migrations")
            }),
            ("../app/migrations", || {
                Check::new().migrations_dir("../app/./migrations")
            }),
            ("both", || {
                Check::new().migrations_dir("migrations").first_version(3)
            }),
        ];
        for table in tables {
            for member in members {
                let tmp = workspace(table);
                if !member.is_empty() {
                    member_settings(&tmp, member);
                }
                for dir in ["app/migrations", "sql", "db/migrations"] {
                    tmp.write(&format!("{dir}/003_a.up.sql"), "SELECT 1;\n");
                    tmp.write(&format!("{dir}/003_a.down.sql"), "SELECT 1;\n");
                }
                let app = tmp.path.join("app");
                // What `cargo confiture -p app migrate status` reads.
                let commands = Workspace::discover(&app).unwrap();
                for (how, check) in checks {
                    let case = format!("{table:?} {member:?} {how}");
                    match check().manifest_dir(&app).inspect() {
                        Err(err) => {
                            assert_eq!(err.exit_code(), confiture::exit::INVALID, "{case}");
                            assert!(err.message.contains("in build.rs"), "{case}: {err}");
                        }
                        Ok(report) => {
                            assert_eq!(
                                report.options.first_version, commands.settings.first_version,
                                "{case}"
                            );
                            let agrees = report.migrations_dir == commands.migrations_dir();
                            assert_eq!(report.warnings.is_empty(), agrees, "{case}");
                        }
                    }
                }
            }
        }
    }

    /// A builder setting that disagrees with the workspace's fails the build naming both
    /// places — the call in build.rs, and the key with its table and `Cargo.toml` — and says
    /// which to change: build.rs's call, Cargo.toml's setting being the one every command
    /// reads.
    #[test]
    fn a_builder_setting_that_disagrees_names_both_places() {
        let tmp = workspace(
            "[workspace.metadata.confiture]\nfirst_version = 7\nmigrations_dir = \"app/migrations\"\n",
        );
        tmp.write("app/migrations/007_a.up.sql", "SELECT 1;\n");
        tmp.write("app/migrations/007_a.down.sql", "SELECT 1;\n");
        let app = tmp.path.join("app");
        let check = Check::new().manifest_dir(&app).migrations_dir("migrations");
        let err = check.clone().first_version(3).inspect().unwrap_err();
        let line = render_error(&err);
        for part in [
            "`Check::first_version(3)` in build.rs disagrees with `first_version` in \
             `[workspace.metadata.confiture]` of `Cargo.toml:3`, which is 7",
            "help: remove `Check::first_version` from build.rs",
        ] {
            assert!(line.contains(part), "{part}\n{line}");
        }
        // The same value agrees.
        let report = check.clone().first_version(7).inspect().unwrap();
        assert_eq!(report.errors(), 0, "{:?}", report.checked.diagnostics);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        // A member's table is named with the member's Cargo.toml.
        member_settings(&tmp, "migrations_dir = \"sql\"\n");
        let err = check.inspect().unwrap_err();
        let line = render_error(&err);
        for part in [
            "`Check::migrations_dir(\"migrations\")` in build.rs (`app/migrations`) disagrees \
             with `migrations_dir` in `[package.metadata.confiture]` of `app/Cargo.toml:6`, \
             which is `app/sql`",
            "help: remove `Check::migrations_dir` from build.rs",
        ] {
            assert!(line.contains(part), "{part}\n{line}");
        }
    }

    /// A builder setting the workspace's settings do not hold: `first_version` fails the
    /// build (no command can be given it, so `status` would call the squashed rows missing);
    /// a directory is a warning, since a command can be given `--migrations-dir`. Each names
    /// the `Cargo.toml` key to add.
    #[test]
    fn a_builder_setting_the_workspace_lacks_names_the_key_to_add() {
        let tmp = workspace("");
        tmp.write("app/migrations/003_a.up.sql", "SELECT 1;\n");
        tmp.write("app/migrations/003_a.down.sql", "SELECT 1;\n");
        let check = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .migrations_dir("migrations");
        let err = check.clone().first_version(3).inspect().unwrap_err();
        let line = render_error(&err);
        for part in [
            "`Check::first_version(3)` in build.rs is not in the workspace's settings",
            "help: move it to Cargo.toml: `first_version = 3` in `[package.metadata.confiture]` \
             of `app/Cargo.toml`",
        ] {
            assert!(line.contains(part), "{part}\n{line}");
        }
        let mut out = Vec::new();
        let report = check.run_to(&mut out).unwrap_err();
        let Error::Invalid(refusal) = report else {
            panic!("{report:?}")
        };
        // Version 3 first, with no `first_version` anywhere: C005 (the commands would say so).
        assert_eq!(refusal.diagnostics[0].code, "C005");
        let printed = String::from_utf8(out).unwrap();
        let warning = "cargo:warning=`Check::migrations_dir(\"migrations\")` in build.rs checks \
             `app/migrations`, which the workspace's settings do not name: `cargo confiture` \
             commands read `db/migrations` unless given `--migrations-dir`; help: add \
             `migrations_dir = \"migrations\"` to `[package.metadata.confiture]` of \
             `app/Cargo.toml` and remove the call from build.rs";
        assert!(printed.lines().any(|l| l == warning), "{printed}");
        // Once added, the warning is gone.
        member_settings(&tmp, "migrations_dir = \"migrations\"\nfirst_version = 3\n");
        let report = check.first_version(3).inspect().unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(report.errors(), 0, "{:?}", report.checked.diagnostics);
    }

    #[test]
    fn first_version_zero_is_refused_naming_where_it_was_set() {
        let tmp = workspace("[workspace.metadata.confiture]\nfirst_version = 0\n");
        tmp.write("app/migrations/001_a.up.sql", "SELECT 1;\n");
        tmp.write("app/migrations/001_a.down.sql", "SELECT 1;\n");
        let check = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .migrations_dir("migrations");
        let err = check.clone().inspect().unwrap_err();
        assert!(err.message.contains("`first_version`"), "{}", err.message);
        assert!(err.message.contains("Cargo.toml"), "{}", err.message);
        // Given to the builder, on a workspace without it.
        let tmp = workspace("");
        tmp.write("app/migrations/001_a.up.sql", "SELECT 1;\n");
        tmp.write("app/migrations/001_a.down.sql", "SELECT 1;\n");
        let check = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .migrations_dir("migrations");
        let err = check.first_version(0).inspect().unwrap_err();
        assert!(
            err.message.contains("`Check::first_version(0)`"),
            "{}",
            err.message
        );
    }

    /// Every error about the directory itself (missing, a file or a FIFO in its place, a link
    /// to nowhere or to a file, a file above it) says where to point another one: Cargo.toml's
    /// `migrations_dir`, the owner. It suggested `Check::migrations_dir` in build.rs, which
    /// only warns now that every command reads Cargo.toml; never a command's
    /// `--migrations-dir` either (h18 F5): a build script has no flags.
    #[test]
    fn a_missing_directory_is_a_setup_error_pointing_at_cargo_toml() {
        let tmp = workspace("");
        let dir = tmp.path.join("db/migrations");
        let check = || {
            Check::new()
                .manifest_dir(tmp.path.join("app"))
                .inspect()
                .unwrap_err()
        };
        let assert_points_at_cargo_toml = |err: &confiture::Error, said: &str, case: &str| {
            let line = render_error(err);
            assert!(line.contains(said), "{case}: {line}");
            assert!(
                line.contains("point `migrations_dir` in `[package.metadata.confiture]`"),
                "{case}: {line}"
            );
            assert!(!line.contains("Check::migrations_dir"), "{case}: {line}");
            assert!(!line.contains("--migrations-dir"), "{case}: {line}");
        };
        let err = check();
        assert_points_at_cargo_toml(&err, "does not exist; help: create it", "missing");
        fs::create_dir_all(tmp.path.join("db")).unwrap();
        fs::write(&dir, "").unwrap();
        assert_points_at_cargo_toml(&check(), "not a directory", "a file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            fs::remove_file(&dir).unwrap();
            symlink("nowhere", &dir).unwrap();
            assert_points_at_cargo_toml(&check(), "symbolic link", "a link to nowhere");
            fs::remove_file(&dir).unwrap();
            fs::write(tmp.path.join("db/file"), "").unwrap();
            symlink("file", &dir).unwrap();
            assert_points_at_cargo_toml(&check(), "not a directory", "a link to a file");
            fs::remove_file(&dir).unwrap();
            let made = std::process::Command::new("mkfifo").arg(&dir).status();
            assert!(made.is_ok_and(|s| s.success()), "mkfifo");
            assert_points_at_cargo_toml(&check(), "a FIFO (named pipe)", "a FIFO");
            fs::remove_file(&dir).unwrap();
        }
        fs::remove_dir_all(tmp.path.join("db")).unwrap();
        fs::write(tmp.path.join("db"), "").unwrap();
        assert_points_at_cargo_toml(&check(), "cannot exist", "a file above");
    }

    /// A setting of the wrong type in a `Cargo.toml` (`first_version = "1"`, `migrations_dir =
    /// 3`; cargo takes any value under `metadata`) failed the build naming the file but not the
    /// line, while invalid TOML names it: each error about a setting names the line of its
    /// value, in a section, an inline table, the workspace's table alike.
    #[test]
    fn a_cargo_toml_setting_of_the_wrong_type_names_its_file_and_line() {
        let package = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n";
        let cases = [
            (
                "[package.metadata.confiture]\n\nfirst_version = \"1\"\n",
                7,
                "a whole number",
            ),
            (
                "[package.metadata.confiture]\nmigrations_dir = 3\n",
                6,
                "a non-empty path",
            ),
            (
                "[package.metadata]\nconfiture = { first_version = \"1\" }\n",
                6,
                "a whole number",
            ),
            ("[package.metadata]\nconfiture = 3\n", 6, "must be a table"),
            (
                "[package.metadata.confiture]\nfirst_version = 0\n",
                6,
                "must be 1 or more",
            ),
            (
                "[package.metadata.confiture]\ndefault_env = \"a.yaml\"\n",
                6,
                "an environment",
            ),
            (
                "[package.metadata.confiture]\nmigration_dir = \"m\"\n",
                6,
                "unknown key",
            ),
        ];
        for (settings, line, said) in cases {
            let tmp = workspace("");
            tmp.write("app/Cargo.toml", &format!("{package}\n{settings}"));
            let err = Check::new()
                .manifest_dir(tmp.path.join("app"))
                .inspect()
                .unwrap_err();
            let shown = render_error(&err);
            assert!(shown.contains(said), "{settings}: {shown}");
            // r2ws: named from the workspace root, as every other line of the check, never
            // by its absolute path.
            assert!(
                shown.contains(&format!(" `app/Cargo.toml:{line}`")),
                "{settings}: {shown}"
            );
            assert!(!shown.contains(&*tmp.path.to_string_lossy()), "{shown}");
            assert!(shown.contains("; help: "), "{settings}: {shown}");
        }
        let tmp = workspace("[workspace.metadata.confiture]\nmigrations_dir = 3\n");
        let err = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap_err();
        let shown = render_error(&err);
        assert!(shown.contains(" `Cargo.toml:3`"), "{shown}");
    }

    /// An entry named like a migration that is no readable file — a directory, a FIFO, a link
    /// to nowhere — fails the build naming it (C010), and the help says what to do for each:
    /// it said "fix its permissions or the symbolic link" alone, which a directory or a FIFO
    /// in a migration's place has nothing to do with.
    #[cfg(unix)]
    #[test]
    fn an_entry_in_a_migration_s_place_that_is_no_file_says_what_to_do() {
        let tmp = workspace("");
        let dir = tmp.path.join("db/migrations");
        tmp.write("db/migrations/001_a.up.sql", "SELECT 1;\n");
        tmp.write("db/migrations/001_a.down.sql", "SELECT 1;\n");
        fs::create_dir_all(dir.join("002_b.up.sql")).unwrap();
        tmp.write("db/migrations/002_b.down.sql", "SELECT 1;\n");
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join("003_c.up.sql"))
            .status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        tmp.write("db/migrations/003_c.down.sql", "SELECT 1;\n");
        std::os::unix::fs::symlink("nowhere.sql", dir.join("004_d.up.sql")).unwrap();
        tmp.write("db/migrations/004_d.down.sql", "SELECT 1;\n");
        let mut out = Vec::new();
        let err = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .run_to(&mut out)
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        let printed = String::from_utf8(out).unwrap();
        for (file, is, to_do) in [
            (
                "002_b.up.sql",
                "it is a directory, not a file",
                "a directory",
            ),
            ("003_c.up.sql", "it is not a regular file", "a FIFO"),
            (
                "004_d.up.sql",
                "symbolic link to `nowhere.sql`",
                "the symbolic link",
            ),
        ] {
            let line = printed
                .lines()
                .find(|l| l.starts_with(&format!("cargo::error=db/migrations/{file}: C010: ")))
                .unwrap_or_else(|| panic!("{file}: no C010 line\n{printed}"));
            assert!(line.contains(is), "{line}");
            let help = line.split_once("; help: ").map(|(_, help)| help).unwrap();
            assert!(help.contains(to_do), "{file}: {help}");
        }
    }

    /// The errors about the directory itself showed it absolute (`migrations directory
    /// `/home/me/ws/db/migrations` does not exist`) while every other line of the check is
    /// relative to the workspace root: each of them — missing, a file in its place, a link to
    /// nowhere, a file above it, and a member's own directory — names it from the root.
    #[test]
    fn errors_about_the_directory_name_it_from_the_workspace_root() {
        let tmp = workspace("");
        let root = tmp.path.to_string_lossy().into_owned();
        let check = || {
            Check::new()
                .manifest_dir(tmp.path.join("app"))
                .inspect()
                .unwrap_err()
        };
        let assert_names = |err: &confiture::Error, shown: &str, case: &str| {
            let line = render_error(err);
            assert!(line.contains(shown), "{case}: {line}");
            assert!(!line.contains(&root), "{case}: {line}");
        };
        assert_names(&check(), "`db/migrations` does not exist", "missing");
        let member = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .migrations_dir("migrations")
            .inspect()
            .unwrap_err();
        assert_names(&member, "`app/migrations` does not exist", "a member's");
        fs::create_dir_all(tmp.path.join("db")).unwrap();
        fs::write(tmp.path.join("db/migrations"), "").unwrap();
        assert_names(&check(), "`db/migrations` is a file", "a file");
        #[cfg(unix)]
        {
            fs::remove_file(tmp.path.join("db/migrations")).unwrap();
            std::os::unix::fs::symlink("nowhere", tmp.path.join("db/migrations")).unwrap();
            assert_names(
                &check(),
                "`db/migrations` is a symbolic link to `db/nowhere`",
                "a link",
            );
        }
        fs::remove_dir_all(tmp.path.join("db")).unwrap();
        fs::write(tmp.path.join("db"), "").unwrap();
        assert_names(
            &check(),
            "`db/migrations` cannot exist: `db` is a file",
            "a file above",
        );
    }

    #[test]
    fn the_embedded_source_quotes_paths_and_records_each_file() {
        let tmp = workspace("");
        let dir = "we\"ird\\dir";
        tmp.write(&format!("app/{dir}/001_a.up.sql"), "SELECT 1;\n");
        tmp.write(
            &format!("app/{dir}/001_a.down.sql"),
            "-- confiture:irreversible\nSELECT 1;\n",
        );
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .migrations_dir(dir)
            .inspect()
            .unwrap();
        assert_eq!(report.errors(), 0, "{:?}", report.checked.diagnostics);
        let package = Package {
            name: "app".into(),
            version: "0.3.0".into(),
        };
        let source = embed_source(&report, &package).unwrap();
        let up = tmp.path.join("app").join(dir).join("001_a.up.sql");
        let literal = format!("{:?}", up.to_str().unwrap());
        assert!(literal.contains("we\\\"ird\\\\dir"), "{literal}");
        assert!(
            source.contains(&format!("sql: include_str!({literal}),")),
            "{source}"
        );
        assert!(source.contains(&format!("checksum: {:?},", files::checksum(b"SELECT 1;\n"))));
        assert!(
            source.contains("dir: \"app/we\\\"ird\\\\dir\","),
            "{source}"
        );
        assert!(source.contains("irreversible: true,"), "{source}");
        assert!(source.contains("package: \"app\",\n        package_version: \"0.3.0\","));
    }

    /// A check without `embed()` replaces what an embedding build left in `OUT_DIR` with an
    /// error naming the fix, and leaves that file alone once it holds it.
    #[test]
    fn a_check_without_embed_leaves_no_set_to_compile() {
        let out = TempDir::new("confiture_build_out");
        let file = out.path.join(confiture::embedded::FILE_NAME);
        fs::write(&file, "{ static MIGRATIONS: () = (); &MIGRATIONS }\n").unwrap();
        embed::write_not_embedded(&out.path).unwrap();
        let stub = fs::read_to_string(&file).unwrap();
        assert_eq!(stub, NOT_EMBEDDED_SOURCE);
        assert!(stub.contains("compile_error!(\""), "{stub}");
        assert!(
            stub.contains("`confiture_build::Check::new().embed().run()?` in build.rs"),
            "{stub}"
        );
        let written = fs::metadata(&file).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        embed::write_not_embedded(&out.path).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), written);
    }

    #[test]
    fn error_syntax_follows_the_rust_version() {
        assert_eq!(Syntax::for_rust_version(None), Syntax::Modern);
        assert_eq!(Syntax::for_rust_version(Some("")), Syntax::Modern);
        assert_eq!(Syntax::for_rust_version(Some("1.85")), Syntax::Modern);
        assert_eq!(Syntax::for_rust_version(Some("1.84.0")), Syntax::Modern);
        assert_eq!(Syntax::for_rust_version(Some("1.70")), Syntax::Legacy);
        assert_eq!(Syntax::Modern.error("x"), "cargo::error=x");
        assert_eq!(Syntax::Legacy.error("x"), "cargo:warning=error: x");
    }

    #[test]
    fn errors_read_as_sentences() {
        let tmp = workspace("");
        tmp.write("db/migrations/001_a.up.sql", "SELECT 1;\n");
        tmp.write("db/migrations/002_b.down.sql", "SELECT 1;\n");
        let report = Check::new()
            .manifest_dir(tmp.path.join("app"))
            .inspect()
            .unwrap();
        let err = Error::Invalid(Box::new(report.refusal()));
        assert_eq!(
            format!("{err:?}"),
            "db/migrations has 2 errors; each is listed above; help: fix the files listed \
             (`cargo confiture lint` explains each rule), then run again"
        );
        let Error::Invalid(refusal) = err else {
            unreachable!()
        };
        assert_eq!(refusal.exit_code(), confiture::exit::INVALID);
        let codes: Vec<_> = refusal.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["C001", "C002"]);
    }
}
