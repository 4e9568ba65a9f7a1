//! Where things are: the Cargo workspace root, its `[workspace.metadata.confiture]` table, and
//! the `[package.metadata.confiture]` table of the package the start directory is in.
//! Discovery walks up to the `Cargo.toml` that has `[workspace]` and reads the tables directly
//! (a `cargo metadata` subprocess would cost as much as a whole `status`).
//!
//! The workspace table gives defaults; the package table overrides them key by key, its paths
//! relative to the package's directory (as Cargo's own paths in a package manifest are). A
//! single-package project writes its settings in either table: the package is its own root.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The keys of `[workspace.metadata.confiture]`, for error messages and did-you-mean.
pub const KEYS: &[&str] = &[
    "migrations_dir",
    "environments_dir",
    "default_env",
    "first_version",
];

/// The workspace's table of settings.
pub const WORKSPACE_TABLE: &str = "[workspace.metadata.confiture]";
/// A package's table of settings, which overrides the workspace's.
pub const PACKAGE_TABLE: &str = "[package.metadata.confiture]";
/// The workspace's table, as a help that tells where a setting is names it.
pub const WORKSPACE_SETTING: &str =
    "`[workspace.metadata.confiture]` of the workspace's Cargo.toml";
/// A package's table, as a help that tells where a setting is names it.
pub const PACKAGE_SETTING: &str = "`[package.metadata.confiture]` of the package's Cargo.toml";
/// Both tables, as messages that tell where to set something name them.
pub const SETTINGS_TABLES: &str =
    "`[package.metadata.confiture]` of the package's Cargo.toml (or `[workspace.metadata.confiture]` \
     of the workspace's)";

/// `[workspace.metadata.confiture]` overridden by `[package.metadata.confiture]`, with defaults
/// filled in. Paths are relative to the root (a package table's are made absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The migrations directory (default `db/migrations`).
    pub migrations_dir: PathBuf,
    /// The table that set `migrations_dir` ([`WORKSPACE_SETTING`] or [`PACKAGE_SETTING`]);
    /// `None` when it is the default.
    pub migrations_dir_from: Option<&'static str>,
    /// The environment files' directory (default `db/environments`).
    pub environments_dir: PathBuf,
    /// The table that set `environments_dir` ([`WORKSPACE_SETTING`] or [`PACKAGE_SETTING`]),
    /// as an error about the directory names it; `None` when it is the default.
    pub environments_dir_from: Option<&'static str>,
    /// The environment used when none is named (default `local`).
    pub default_env: String,
    /// The table that set `default_env` ([`WORKSPACE_SETTING`] or [`PACKAGE_SETTING`]), as an
    /// error about its file names it; `None` when it is the default.
    pub default_env_from: Option<&'static str>,
    /// The first version of a squashed history: rows below it are not problems.
    pub first_version: Option<u64>,
    /// The table that set `first_version`, as a help names it ([`WORKSPACE_SETTING`] or
    /// [`PACKAGE_SETTING`]); `None` when it is not set.
    pub first_version_from: Option<&'static str>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            migrations_dir: PathBuf::from("db/migrations"),
            migrations_dir_from: None,
            environments_dir: PathBuf::from("db/environments"),
            environments_dir_from: None,
            default_env: "local".to_string(),
            default_env_from: None,
            first_version: None,
            first_version_from: None,
        }
    }
}

/// From where an error about a setting names its `Cargo.toml`: as every other line of the output
/// that shows it names files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ShownFrom {
    /// The current directory ([`crate::display::path`]): a command's output, a program's errors.
    #[default]
    CurrentDir,
    /// The workspace root ([`crate::display::relative_to`]): a build script's lines, whose
    /// current directory is its package's while every line names its paths from the root.
    Root,
}

#[derive(Debug, Clone, PartialEq, Eq)]
/// A Cargo workspace (or a directory outside one) and its confiture settings.
pub struct Workspace {
    /// The workspace root (or the start directory when not inside a Cargo workspace).
    pub root: PathBuf,
    /// The directory the workspace was found from (absolute; the CLI's current directory, or
    /// the one `-p`/`--manifest-path` names): where the nearest `.env` is looked for first,
    /// then in each directory up to [`Workspace::root`].
    pub start: PathBuf,
    /// The `Cargo.toml` the settings were read from, if any (for `cargo:rerun-if-changed`).
    pub manifest: Option<PathBuf>,
    /// The `Cargo.toml` of the package the start directory is in, when it is not `manifest`
    /// (a workspace member): its `[package.metadata.confiture]` was read too.
    pub package_manifest: Option<PathBuf>,
    /// The confiture settings read from its manifests.
    pub settings: Settings,
}

impl Workspace {
    /// Finds the workspace containing `start` and reads its settings.
    ///
    /// Walks up from `start` to the first `Cargo.toml` with a `[workspace]` table; a member
    /// manifest with `package.workspace = "path"` points straight at its root. When no
    /// workspace encloses `start`, the nearest package is its own root (as for cargo), and
    /// outside any package the root is `start`; either way with default settings. An error
    /// names a `Cargo.toml` relative to the current directory ([`ShownFrom::CurrentDir`]).
    pub fn discover(start: &Path) -> Result<Workspace> {
        Workspace::discover_shown_from(start, ShownFrom::CurrentDir)
    }

    /// [`Workspace::discover`], an error about a setting naming its `Cargo.toml` from where
    /// `shown` says. An error found before the root is (TOML that does not parse, a
    /// `package.workspace` that points nowhere) names it relative to the current directory:
    /// cargo refuses such a manifest before any build script runs.
    pub fn discover_shown_from(start: &Path, shown: ShownFrom) -> Result<Workspace> {
        let start = std::path::absolute(start).map_err(|err| {
            Error::invalid(format!(
                "cannot resolve directory `{}`",
                crate::display::path_text(start)
            ))
            .with_source(err)
        })?;
        let mut package: Option<Package> = None;
        for dir in start.ancestors() {
            let manifest = dir.join("Cargo.toml");
            let Some(table) = read_manifest(&manifest)? else {
                continue;
            };
            if package.is_none() && table.contains_key("package") {
                package = Some(Package {
                    dir: dir.to_path_buf(),
                    manifest: manifest.clone(),
                    table: table.clone(),
                });
            }
            if table.contains_key("workspace") {
                let root = dir.to_path_buf();
                return Workspace::from_root(root, &start, manifest, &table, package, shown);
            }
            if let Some(pointer) = table.get("package").and_then(|p| p.get("workspace")) {
                let (root, root_manifest, table) = follow_pointer(dir, &manifest, pointer)?;
                return Workspace::from_root(root, &start, root_manifest, &table, package, shown);
            }
        }
        match package {
            // Outside any workspace the nearest package is its own root (as for cargo); one
            // that inherits from a workspace is a manifest cargo cannot read.
            Some(package) => {
                refuse_inheriting_without_workspace(&package)?;
                let empty = toml::Table::new();
                let (dir, manifest) = (package.dir.clone(), package.manifest.clone());
                Workspace::from_root(dir, &start, manifest, &empty, Some(package), shown)
            }
            None => Ok(Workspace {
                root: start.clone(),
                start,
                manifest: None,
                package_manifest: None,
                settings: Settings::default(),
            }),
        }
    }

    /// The project an environment file named by its path belongs to — `-c FILE` and
    /// `Migrator::from_config` both ask this, so that they read the same migrations: the
    /// Cargo workspace (and package) that holds the file, as [`Workspace::discover`] finds it
    /// from the file's directory; for a file outside any Cargo project (a secrets mount,
    /// `/dev/stdin`, a directory without a `Cargo.toml`), the project discovery finds from
    /// `start` (the current directory, or the one `-p`/`--manifest-path` names) — outside any
    /// project, `start` itself, never the file's directory. A relative `file` is relative to
    /// the current directory.
    pub fn of_environment_file(file: &Path, start: &Path) -> Result<Workspace> {
        let file = std::path::absolute(file).map_err(|err| {
            Error::invalid(format!(
                "cannot resolve path `{}`",
                crate::display::path_text(file)
            ))
            .with_source(err)
        })?;
        // A path whose directory is not there finds nothing; reading it is the file's reader's
        // error to name.
        if let Some(dir) = file.parent().filter(|dir| dir.is_dir()) {
            let holding = Workspace::discover(dir)?;
            if holding.manifest.is_some() {
                return Ok(holding);
            }
        }
        Workspace::discover(start)
    }

    fn from_root(
        root: PathBuf,
        start: &Path,
        manifest: PathBuf,
        table: &toml::Table,
        package: Option<Package>,
        shown: ShownFrom,
    ) -> Result<Workspace> {
        let mut settings = Settings::default();
        let from = shown_base(&root, shown);
        let workspace_table = table.get("workspace").and_then(|w| w.get("metadata"));
        if let Some(value) = workspace_table.and_then(|m| m.get("confiture")) {
            let table = Table::new(&manifest, WORKSPACE_TABLE, None, from);
            read_settings(&table, value, &mut settings)?;
        }
        let mut package_manifest = None;
        if let Some(package) = package {
            let package_table = package.table.get("package").and_then(|p| p.get("metadata"));
            if let Some(value) = package_table.and_then(|m| m.get("confiture")) {
                let base = Some(package.dir.as_path());
                let table = Table::new(&package.manifest, PACKAGE_TABLE, base, from);
                read_settings(&table, value, &mut settings)?;
            }
            if package.manifest != manifest {
                package_manifest = Some(package.manifest);
            }
        }
        Ok(Workspace {
            root,
            start: start.to_path_buf(),
            manifest: Some(manifest),
            package_manifest,
            settings,
        })
    }

    /// The manifests the settings come from: the workspace's, then the package's.
    pub fn manifests(&self) -> impl Iterator<Item = &Path> {
        self.manifest
            .iter()
            .chain(self.package_manifest.iter())
            .map(PathBuf::as_path)
    }

    /// The `Cargo.toml` that holds the table `from` names ([`PACKAGE_SETTING`] or
    /// [`WORKSPACE_SETTING`], as [`Settings::first_version_from`] holds it): a member's own
    /// manifest for its package table, else the root's.
    pub fn manifest_of(&self, from: &str) -> Option<&Path> {
        let package = (from == PACKAGE_SETTING).then_some(self.package_manifest.as_deref());
        package.flatten().or(self.manifest.as_deref())
    }

    /// Where `key` of the table `from` names ([`PACKAGE_SETTING`] or [`WORKSPACE_SETTING`], as
    /// [`Settings`] records it) is written, as an error about its value names it: `` `key` in
    /// `[table]` of `Cargo.toml:LINE` ``, the file from where `shown` says.
    pub fn setting_shown(&self, key: &str, from: &str, shown: ShownFrom) -> String {
        let name = table_of(from);
        let at = match self.manifest_of(from) {
            Some(manifest) => {
                Table::new(manifest, name, None, shown_base(&self.root, shown)).at(Some(key))
            }
            None => "Cargo.toml".to_string(),
        };
        key_in(key, name, &at)
    }

    /// The migrations directory, absolute, as the system reaches it
    /// ([`crate::display::without_dot_dot`]): a member's `../shared/migrations` is
    /// `<root>/shared/migrations`, never `<root>/app/../shared/migrations`, for the CLI, a
    /// `Migrator` and `confiture-build` alike.
    pub fn migrations_dir(&self) -> PathBuf {
        crate::display::without_dot_dot(&self.root.join(&self.settings.migrations_dir))
    }

    /// Outside any Cargo project (no `Cargo.toml` above `start`: the root is `start` itself,
    /// with the default layout), the nearest directory above `start` whose migrations
    /// directory (`db/migrations`) exists while `start`'s does not: the project a command run
    /// from a subdirectory (`src/deep`) most likely meant. **The one answer** to it: `status`'s
    /// `no database configured` names it, and `generate` refuses to start a second migrations
    /// directory under it. `None` in a Cargo project (its root is known), or where `start`
    /// has its own migrations directory.
    pub fn project_above(&self) -> Option<PathBuf> {
        if self.manifest.is_some() || self.migrations_dir().exists() {
            return None;
        }
        (self.start.ancestors().skip(1))
            .find(|dir| dir.join(&self.settings.migrations_dir).is_dir())
            .map(Path::to_path_buf)
    }

    /// What to do about [`Workspace::project_above`] (`found ../../db/migrations ...`), for a
    /// help; `None` without one.
    pub fn project_above_help(&self) -> Option<String> {
        Some(self.project_above_help_of(&self.project_above()?))
    }

    /// [`Workspace::project_above_help`] for a command that reads an environment file: the
    /// environments of the project above are where its migrations are, not here, so the
    /// alternative to `cd` names the file that `--env env` (the default environment for
    /// `None`) reads there, as `file_named` words it (`-c ../../db/environments/dev.yaml`):
    /// pasted, it reads that project's database too. `None` when the project above has no
    /// such file (the command's own help stands).
    pub fn project_above_help_reading(
        &self,
        env: Option<&str>,
        file_named: impl Fn(&Path) -> String,
    ) -> Option<String> {
        let above = self.project_above()?;
        let name = env.unwrap_or(&self.settings.default_env);
        let file = (above.join(&self.settings.environments_dir)).join(format!("{name}.yaml"));
        if !file.is_file() {
            return env.is_none().then(|| self.project_above_help_of(&above));
        }
        let help = self.project_above_help_of(&above);
        Some(format!(
            "{help} {}",
            file_named(&crate::display::relative(&file))
        ))
    }

    fn project_above_help_of(&self, above: &Path) -> String {
        let migrations = above.join(&self.settings.migrations_dir);
        format!(
            "found {} in a directory above, and no Cargo.toml says which project this is: run \
             from {} (`cd {}`), or pass --migrations-dir {}",
            crate::display::path(&migrations),
            crate::display::current_dir(above),
            crate::hint::quote_path(above),
            crate::hint::quote_path(&crate::display::relative(&migrations)),
        )
    }

    /// The environment files' directory, absolute.
    pub fn environments_dir(&self) -> PathBuf {
        self.root.join(&self.settings.environments_dir)
    }

    /// A relative path given on the command line (`--migrations-dir`, `-c`) that is not there
    /// from the current directory `cwd` but is from the workspace root (`db/migrations` typed
    /// in `src/`): where it is, so that the error can name the path that reaches it from
    /// `cwd`. `None` for an absolute path, one that is there (or in the way: a broken link),
    /// or one the root has not either.
    pub fn there_from_the_root(&self, given: &Path, cwd: &Path) -> Option<PathBuf> {
        if given.is_absolute() {
            return None;
        }
        let here = crate::display::without_dot_dot(&cwd.join(given));
        let missing = matches!(
            fs::symlink_metadata(&here),
            Err(e) if e.kind() == io::ErrorKind::NotFound
        );
        let at_root = crate::display::without_dot_dot(&self.root.join(given));
        (missing && at_root != here && at_root.exists()).then_some(at_root)
    }

    /// The name of the workspace member the start directory is in (`package.name` of
    /// [`Workspace::package_manifest`]), as `-p NAME` selects it; `None` at the root, outside
    /// a member, or when the manifest cannot be read.
    pub fn member_name(&self) -> Option<String> {
        let manifest = self.package_manifest.as_deref()?;
        let table = read_manifest(manifest).ok()??;
        let name = table.get("package")?.get("name")?.as_str()?;
        Some(name.to_string())
    }

    /// The members the root manifest's `[workspace] members` names whose `Cargo.toml` has a
    /// `[package.metadata.confiture]` table, each as its package name (what `-p NAME`
    /// selects) and directory, sorted: read from the manifests alone, for when `cargo
    /// metadata` cannot list the members (a member without its `src/` yet). Its patterns are
    /// read as cargo reads them (`*`, `?`, `[..]` in any segment, `**`: `expand_member_pattern`),
    /// less the directories under an `exclude` entry that no member names explicitly; a
    /// member whose manifest cannot be read is passed over. A pattern that cannot be read (a
    /// `[` never closed, an entry that is no string) is an `Invalid` error naming the
    /// `Cargo.toml` and its line: never passed over, which would hide the members it names.
    pub fn declared_members_with_settings(&self) -> Result<Vec<(String, PathBuf)>> {
        let Some(manifest) = self.manifest.as_deref() else {
            return Ok(Vec::new());
        };
        let Some(table) = read_manifest(manifest).ok().flatten() else {
            return Ok(Vec::new());
        };
        let workspace = table.get("workspace");
        let list = |key: &str| -> Result<Vec<String>> {
            let Some(value) = workspace.and_then(|w| w.get(key)) else {
                return Ok(Vec::new());
            };
            let unreadable = |reason: String| {
                Error::invalid(format!(
                    "`workspace.{key}` in `{}` cannot be read: {reason}",
                    shown_at(manifest, &["workspace", key], None)
                ))
                .with_help("write it as cargo reads it: a path, or a glob pattern (`crates/*`)")
            };
            let Some(entries) = value.as_array() else {
                return Err(unreadable(format!(
                    "{}, not a list of paths",
                    describe(value)
                )));
            };
            (entries.iter())
                .map(|entry| {
                    (entry.as_str().map(str::to_string)).ok_or_else(|| {
                        unreadable(format!("an entry is {}, not a path", describe(entry)))
                    })
                })
                .collect()
        };
        let (patterns, exclude) = (list("members")?, list("exclude")?);
        let mut dirs = Vec::new();
        for pattern in &patterns {
            let expanded = expand_member_pattern(&self.root, pattern).map_err(|reason| {
                Error::invalid(format!(
                    "pattern `{}` of `workspace.members` in `{}` cannot be read: {reason}",
                    crate::display::escape(pattern),
                    shown_at(manifest, &["workspace", "members"], None)
                ))
                .with_help("write it as cargo reads it: a path, or a glob pattern (`crates/*`)")
            })?;
            dirs.extend(expanded.into_iter().map(|dir| normalize(&dir)));
        }
        // cargo's rule: under an `exclude` entry, unless a `members` entry names it (a path).
        let under = |dir: &Path, entries: &[String]| {
            (entries.iter()).any(|entry| dir.starts_with(normalize(&self.root.join(entry))))
        };
        dirs.retain(|dir| !under(dir, &exclude) || under(dir, &patterns));
        let mut members: Vec<(String, PathBuf)> = dirs
            .into_iter()
            .filter_map(|dir| {
                let table = read_manifest(&dir.join("Cargo.toml")).ok()??;
                let package = table.get("package")?;
                package.get("metadata")?.get("confiture")?;
                let name = package.get("name")?.as_str()?.to_string();
                Some((name, crate::display::without_dot_dot(&dir)))
            })
            .collect();
        members.sort();
        members.dedup();
        Ok(members)
    }
}

/// The package the start directory is in: its `[package.metadata.confiture]` overrides.
struct Package {
    dir: PathBuf,
    manifest: PathBuf,
    table: toml::Table,
}

/// A package outside any workspace that inherits a value from one (`version.workspace =
/// true`, a dependency's `{ workspace = true }`, `lints.workspace = true`): cargo cannot read
/// its manifest ("failed to find a workspace root"), so neither `cargo build` nor its paths
/// mean anything — an example package copied out of its workspace. Refused (exit 5) naming the
/// manifest, the key and cargo's reason, never read as a project of its own (whose
/// `db/migrations`, below the copy, is not where its migrations are).
fn refuse_inheriting_without_workspace(package: &Package) -> Result<()> {
    let Some(keys) = inherited_key(&package.table) else {
        return Ok(());
    };
    let at = shown_at(&package.manifest, &keys, None);
    let from = match keys.as_slice() {
        ["package", key] => format!("workspace.package.{key}"),
        [_, dependency] => format!("workspace.dependencies.{dependency}"),
        _ => "workspace.lints".to_string(),
    };
    Err(Error::invalid(format!(
        "`{}` cannot be read by cargo: `{}.workspace = true` ({at}) inherits `{from}` from a \
         workspace, but no Cargo.toml with `[workspace]` encloses it (cargo: failed to find a \
         workspace root)",
        crate::display::path(&package.manifest),
        keys.join("."),
    ))
    .with_help(
        "write each inherited value in the package's Cargo.toml itself (`version = \"0.1.0\"`, \
         a dependency's version), or move the package back into its workspace",
    ))
}

/// The first key of a package manifest that inherits from its workspace
/// ([`refuse_inheriting_without_workspace`]), as the path of tables to it: `["package",
/// "version"]`, `["dependencies", "confiture"]`, `["lints"]`.
fn inherited_key(table: &toml::Table) -> Option<Vec<&str>> {
    let inherits =
        |value: &toml::Value| value.get("workspace").and_then(toml::Value::as_bool) == Some(true);
    let in_table = |name: &'static str| {
        let entries = table.get(name)?.as_table()?;
        let (key, _) = entries.iter().find(|(_, value)| inherits(value))?;
        Some(vec![name, key.as_str()])
    };
    in_table("package")
        .or_else(|| in_table("dependencies"))
        .or_else(|| in_table("build-dependencies"))
        .or_else(|| in_table("dev-dependencies"))
        .or_else(|| {
            table
                .get("lints")
                .filter(|lints| inherits(lints))
                .map(|_| vec!["lints"])
        })
}

/// A member's `package.workspace = "path"`: the root, its manifest and its table.
fn follow_pointer(
    dir: &Path,
    manifest: &Path,
    pointer: &toml::Value,
) -> Result<(PathBuf, PathBuf, toml::Table)> {
    let Some(pointer) = pointer.as_str() else {
        return Err(Error::invalid(format!(
            "`package.workspace` in `{}` must be a string (the path to the workspace root)",
            crate::display::path(manifest)
        )));
    };
    let root = normalize(&dir.join(pointer));
    let root_manifest = root.join("Cargo.toml");
    let help = format!(
        "fix `package.workspace` in `{}`",
        crate::display::path(manifest)
    );
    let table = read_manifest(&root_manifest)?.ok_or_else(|| {
        Error::invalid(format!(
            "`package.workspace` in `{}` points at `{}`, which has no Cargo.toml",
            crate::display::path(manifest),
            crate::display::path(&root)
        ))
        .with_help(help.clone())
    })?;
    if !table.contains_key("workspace") {
        return Err(Error::invalid(format!(
            "`package.workspace` in `{}` points at `{}`, which has no `[workspace]` table",
            crate::display::path(manifest),
            crate::display::path(&root_manifest)
        ))
        .with_help(help));
    }
    Ok((root, root_manifest, table))
}

/// The parsed manifest, or `None` when there is no `Cargo.toml` file here.
fn read_manifest(manifest: &Path) -> Result<Option<toml::Table>> {
    let text = match fs::read_to_string(manifest) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound || manifest.is_dir() => return Ok(None),
        Err(err) => {
            return Err(
                Error::invalid(format!("cannot read `{}`", crate::display::path(manifest)))
                    .with_source(err),
            )
        }
    };
    text.parse::<toml::Table>().map(Some).map_err(|err| {
        let line = err
            .span()
            .map(|span| crate::text::line_of(text.as_bytes(), span.start));
        let at = line.map(|line| format!(":{line}")).unwrap_or_default();
        let shown = err.message().trim_end().to_string();
        Error::invalid(format!(
            "invalid TOML in `{}{at}`",
            crate::display::path(manifest)
        ))
        .with_source_shown(err, shown)
    })
}

/// The base [`shown_manifest`] names a `Cargo.toml` from: `None` for the current directory.
fn shown_base(root: &Path, shown: ShownFrom) -> Option<&Path> {
    match shown {
        ShownFrom::CurrentDir => None,
        ShownFrom::Root => Some(root),
    }
}

/// A `Cargo.toml` as an error names it: relative to `base` when given (a build script's
/// workspace root), else to the current directory ([`crate::display::path`]), escaped.
fn shown_manifest(manifest: &Path, base: Option<&Path>) -> String {
    match base {
        Some(base) => {
            let relative = crate::display::relative_to(manifest, base);
            crate::display::escape(&crate::display::path_text(&relative)).into_owned()
        }
        None => crate::display::path(manifest),
    }
}

/// `manifest` as an error about the value of `keys` (a dotted path of tables, then the key)
/// names it: `path:LINE` (the path from `base`, [`shown_manifest`]), the line where the value
/// is written (in a `[section]`, a dotted key or an inline table alike), as [`read_manifest`]
/// names invalid TOML; the path alone when the file no longer reads or parses. Read again only
/// for the error: the settings are read from the parsed table, which keeps no positions.
fn shown_at(manifest: &Path, keys: &[&str], base: Option<&Path>) -> String {
    let line = fs::read_to_string(manifest).ok().and_then(|text| {
        let document = toml::de::DeTable::parse(&text).ok()?;
        let mut table = document.get_ref();
        let mut span = None;
        for (i, key) in keys.iter().enumerate() {
            let (_, value) = table.iter().find(|(name, _)| name.get_ref() == key)?;
            span = Some(value.span());
            if i + 1 < keys.len() {
                match value.get_ref() {
                    toml::de::DeValue::Table(inner) => table = inner,
                    _ => return None,
                }
            }
        }
        Some(crate::text::line_of(text.as_bytes(), span?.start))
    });
    let shown = shown_manifest(manifest, base);
    match line {
        Some(line) => format!("{shown}:{line}"),
        None => shown,
    }
}

/// One table of settings being read: its manifest, its name ([`PACKAGE_TABLE`] or
/// [`WORKSPACE_TABLE`]), the directory its paths are relative to when not the root (a
/// package's), and the base its errors name the manifest from ([`shown_manifest`]).
struct Table<'a> {
    manifest: &'a Path,
    name: &'a str,
    base: Option<&'a Path>,
    shown_from: Option<&'a Path>,
}

impl<'a> Table<'a> {
    fn new(
        manifest: &'a Path,
        name: &'a str,
        base: Option<&'a Path>,
        shown_from: Option<&'a Path>,
    ) -> Table<'a> {
        Table {
            manifest,
            name,
            base,
            shown_from,
        }
    }

    /// Where `key`'s value (the table's own, without one) is written: `Cargo.toml:LINE`, as
    /// invalid TOML is named.
    fn at(&self, key: Option<&str>) -> String {
        let dotted = self.name.trim_matches(['[', ']']);
        let keys: Vec<&str> = dotted.split('.').chain(key).collect();
        shown_at(self.manifest, &keys, self.shown_from)
    }
}

/// `key` of the table `name`, written at `at` (`Cargo.toml:LINE`): how every message about a
/// setting's value names it.
fn key_in(key: &str, name: &str, at: &str) -> String {
    format!("`{key}` in `{name}` of `{at}`")
}

/// Reads one table of settings (`name`, in `manifest`) into `settings`: every key known, every
/// value of the right type. Paths are relative to `base` when given (a package's directory),
/// else to the workspace root.
fn read_settings(table: &Table, value: &toml::Value, settings: &mut Settings) -> Result<()> {
    let (name, base) = (table.name, table.base);
    let dotted = name.trim_matches(['[', ']']);
    let at = |key: Option<&str>| table.at(key);
    let Some(confiture) = value.as_table() else {
        return Err(Error::invalid(format!(
            "`{dotted}` in `{}` must be a table, not {}",
            at(None),
            describe(value)
        ))
        .with_help(format!("write it as a `{name}` section")));
    };
    let path_of = |text: &str| match base {
        Some(base) => base.join(text),
        None => PathBuf::from(text),
    };
    for (key, value) in confiture {
        let wrong_type = |expected: &str, example: &str| {
            Error::invalid(format!(
                "{} must be {expected}, not {}",
                key_in(key, name, &at(Some(key))),
                describe(value)
            ))
            .with_help(format!("for example `{key} = {example}`"))
        };
        match key.as_str() {
            "migrations_dir" | "environments_dir" => {
                let example = if key == "migrations_dir" {
                    "\"db/migrations\""
                } else {
                    "\"db/environments\""
                };
                let path = value.as_str().filter(|s| !s.is_empty());
                let path = path.ok_or_else(|| {
                    wrong_type(
                        if base.is_some() {
                            "a non-empty path string, relative to the package's directory"
                        } else {
                            "a non-empty path string, relative to the workspace root"
                        },
                        example,
                    )
                })?;
                // No file name holds a NUL: reading the directory failed with the OS's "file
                // name contained an unexpected NUL byte" and a help to check its permissions,
                // naming neither the key nor its line.
                if path.contains('\0') {
                    return Err(Error::invalid(format!(
                        "{} must be a path without a NUL character, which no file name can \
                         hold, not {}",
                        key_in(key, name, &at(Some(key))),
                        crate::display::escape(&format!("{path:?}"))
                    ))
                    .with_help(format!("for example `{key} = {example}`")));
                }
                if key == "migrations_dir" {
                    settings.migrations_dir = path_of(path);
                    settings.migrations_dir_from = Some(table_setting(name));
                } else {
                    settings.environments_dir = path_of(path);
                    settings.environments_dir_from = Some(table_setting(name));
                }
            }
            "default_env" => {
                let env = value.as_str().filter(|s| !s.is_empty());
                let env = env.ok_or_else(|| wrong_type("a non-empty string", "\"local\""))?;
                // Taken as written, `local.yaml` made the default file `local.yaml.yaml`, never
                // there: the command went on to `DATABASE_URL`, another database.
                if !crate::config::is_environment_name(env) {
                    let example = crate::config::environment_of_file_name(env).unwrap_or("local");
                    return Err(Error::invalid(format!(
                        "{} must be the name of an environment, a file of the environments \
                         directory without `.yaml`, not {env:?}",
                        key_in(key, name, &at(Some(key)))
                    ))
                    .with_help(format!("for example `{key} = \"{example}\"`")));
                }
                settings.default_env = env.to_string();
                settings.default_env_from = Some(table_setting(name));
            }
            "first_version" => {
                let version = value.as_integer().and_then(|v| u64::try_from(v).ok());
                // The range `first_version_too_low` checks, said once for every wrong value.
                let expected = format!("a whole number, {} or more", crate::history::MIN_VERSION);
                let version = version.ok_or_else(|| wrong_type(&expected, "5"))?;
                if version < crate::history::MIN_VERSION {
                    return Err(
                        first_version_too_low(&key_in(key, name, &at(Some(key))), version)
                            .with_help(format!(
                        "remove `first_version` from `{name}` (versions then start at {}), or \
                         set it to the version of the directory's first migration",
                        crate::history::MIN_VERSION
                    )),
                    );
                }
                settings.first_version = Some(version);
                settings.first_version_from = Some(table_setting(name));
            }
            _ => return Err(unknown_key(&at(Some(key)), name, key)),
        }
    }
    Ok(())
}

/// The table `name` ([`PACKAGE_TABLE`] or [`WORKSPACE_TABLE`]) as a help names it.
fn table_setting(name: &str) -> &'static str {
    if name == PACKAGE_TABLE {
        PACKAGE_SETTING
    } else {
        WORKSPACE_SETTING
    }
}

/// The table ([`PACKAGE_TABLE`] or [`WORKSPACE_TABLE`]) a help's `from` names
/// ([`PACKAGE_SETTING`] or [`WORKSPACE_SETTING`], as [`Settings`] records it): the inverse of
/// `table_setting`.
pub fn table_of(from: &str) -> &'static str {
    if from == PACKAGE_SETTING {
        PACKAGE_TABLE
    } else {
        WORKSPACE_TABLE
    }
}

/// `first_version` below [`crate::history::MIN_VERSION`], set where `setting` says (a
/// Cargo.toml's key, `confiture-build`'s builder): the one wording.
pub fn first_version_too_low(setting: &str, version: u64) -> Error {
    Error::invalid(format!(
        "{setting} must be {} or more, not {version}: version 0 is the state before every \
         migration (what `migrate down --target 0` returns to), not a migration's",
        crate::history::MIN_VERSION
    ))
}

/// `unknown key` in a table of settings, with a did-you-mean and the keys both tables take.
fn unknown_key(manifest: &str, name: &str, key: &str) -> Error {
    let err = Error::invalid(format!("unknown key `{key}` in `{name}` of `{manifest}`"));
    let keys = format!(
        "{} (in `{PACKAGE_TABLE}` and `{WORKSPACE_TABLE}` alike)",
        KEYS.join(", ")
    );
    match crate::text::did_you_mean(key, KEYS.iter().copied()) {
        Some(known) => err.with_help(format!("did you mean `{known}`? the keys are {keys}")),
        None => err.with_help(format!("the keys are {keys}")),
    }
}

fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) if s.is_empty() => "an empty string".to_string(),
        toml::Value::String(_) => "a string".to_string(),
        toml::Value::Integer(i) if *i < 0 => "a negative integer".to_string(),
        other => format!(
            "{} {}",
            if other.type_str().starts_with(['a', 'i']) {
                "an"
            } else {
                "a"
            },
            other.type_str()
        ),
    }
}

/// The directories `pattern` of `[workspace] members` names under `root`, as cargo expands it
/// (the `glob` crate's rules, each `/`-separated segment matched against the entries of the
/// directories before it): `*` any run of characters, `?` one, `[abc]`, `[a-z]` and `[!a-z]`
/// one of a class, `**` alone in its segment any number of directories. A pattern without
/// them is its own directory. The reason a pattern cannot be read, else.
fn expand_member_pattern(root: &Path, pattern: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let segments: Vec<Segment> = (pattern.split('/'))
        .map(Segment::parse)
        .collect::<std::result::Result<_, _>>()?;
    let mut found = vec![root.to_path_buf()];
    for segment in &segments {
        let mut next = Vec::new();
        for dir in &found {
            match segment {
                Segment::Literal(name) => next.push(dir.join(name)),
                Segment::AnyDepth => collect_dirs(dir, &mut next),
                Segment::Glob(tokens) => {
                    let Ok(entries) = fs::read_dir(dir) else {
                        continue;
                    };
                    let mut matched: Vec<PathBuf> = (entries.filter_map(|e| e.ok()))
                        .filter(|e| {
                            let name: Vec<char> = e.file_name().to_string_lossy().chars().collect();
                            glob_match(tokens, &name)
                        })
                        .map(|e| e.path())
                        .collect();
                    matched.sort();
                    next.extend(matched);
                }
            }
        }
        found = next;
    }
    let globbed = segments.iter().any(|s| !matches!(s, Segment::Literal(_)));
    Ok(if globbed {
        found.into_iter().filter(|dir| dir.is_dir()).collect()
    } else {
        found
    })
}

/// `dir` and every directory under it (`**`), symbolic links not followed.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = (entries.filter_map(|e| e.ok()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for sub in dirs {
        collect_dirs(&sub, out);
    }
}

/// One `/`-separated segment of a member pattern.
enum Segment {
    Literal(String),
    /// `**`: any number of directories.
    AnyDepth,
    Glob(Vec<GlobToken>),
}

enum GlobToken {
    Char(char),
    /// `?`
    One,
    /// `*`
    Any,
    /// `[...]`, `[!...]`: the ranges (a single character is a range of one), negated.
    Class(Vec<(char, char)>, bool),
}

impl Segment {
    fn parse(segment: &str) -> std::result::Result<Segment, String> {
        if segment == "**" {
            return Ok(Segment::AnyDepth);
        }
        if segment.contains("**") {
            return Err("`**` must be a whole segment of the path (`a/**/b`)".to_string());
        }
        if !segment.contains(['*', '?', '[']) {
            return Ok(Segment::Literal(segment.to_string()));
        }
        let chars: Vec<char> = segment.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => tokens.push(GlobToken::Any),
                '?' => tokens.push(GlobToken::One),
                '[' => {
                    let negated = chars.get(i + 1) == Some(&'!');
                    let start = i + 1 + usize::from(negated);
                    // The first character of a class is itself, even `]` (`[]a]`).
                    let end = (chars.iter().enumerate().skip(start + 1))
                        .find(|(_, c)| **c == ']')
                        .map(|(end, _)| end)
                        .filter(|_| start < chars.len())
                        .ok_or_else(|| "a `[` has no `]` closing its class".to_string())?;
                    let class = &chars[start..end];
                    let mut ranges = Vec::new();
                    let mut j = 0;
                    while j < class.len() {
                        if j + 2 < class.len() && class[j + 1] == '-' {
                            ranges.push((class[j], class[j + 2]));
                            j += 3;
                        } else {
                            ranges.push((class[j], class[j]));
                            j += 1;
                        }
                    }
                    tokens.push(GlobToken::Class(ranges, negated));
                    i = end;
                }
                c => tokens.push(GlobToken::Char(c)),
            }
            i += 1;
        }
        Ok(Segment::Glob(tokens))
    }
}

/// Whether `name` matches `tokens` whole.
fn glob_match(tokens: &[GlobToken], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((GlobToken::Any, rest)) => {
            (0..=name.len()).any(|skip| glob_match(rest, &name[skip..]))
        }
        Some((token, rest)) => match name.split_first() {
            None => false,
            Some((c, tail)) => {
                let one = match token {
                    GlobToken::Char(expected) => c == expected,
                    GlobToken::One => true,
                    GlobToken::Class(ranges, negated) => {
                        ranges.iter().any(|(low, high)| (low..=high).contains(&c)) != *negated
                    }
                    GlobToken::Any => unreachable!("matched above"),
                };
                one && glob_match(rest, tail)
            }
        },
    }
}

/// Removes `.` and `..` lexically, so that paths in messages read well.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::error::ErrorKind;
    use confiture_test_support::TempDir;

    const MEMBER: &str = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n";

    #[test]
    fn finds_the_workspace_root_from_a_member_subdirectory() {
        let tmp = TempDir::new("confiture_workspace");
        let root_manifest = tmp.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\"]\n\n[workspace.metadata.confiture]\nmigrations_dir = \"sql/migrations\"\nfirst_version = 40\n",
        );
        tmp.write("app/Cargo.toml", MEMBER);
        let start = tmp.dir("app/src/bin");
        let ws = Workspace::discover(&start).unwrap();
        assert_eq!(ws.root, tmp.path);
        assert_eq!(ws.manifest.as_deref(), Some(root_manifest.as_path()));
        assert_eq!(ws.settings.migrations_dir, Path::new("sql/migrations"));
        assert_eq!(ws.settings.environments_dir, Path::new("db/environments"));
        assert_eq!(ws.settings.default_env, "local");
        assert_eq!(ws.settings.first_version, Some(40));
        assert_eq!(ws.migrations_dir(), tmp.path.join("sql/migrations"));
    }

    #[test]
    fn defaults_when_the_table_is_absent() {
        let tmp = TempDir::new("confiture_workspace");
        tmp.write("Cargo.toml", "[workspace]\nmembers = []\n");
        let ws = Workspace::discover(&tmp.path).unwrap();
        assert_eq!(ws.settings, Settings::default());
        assert_eq!(ws.environments_dir(), tmp.path.join("db/environments"));
    }

    #[test]
    fn honours_package_workspace() {
        let tmp = TempDir::new("confiture_workspace");
        // The member lives outside the root's directory tree, so only the pointer finds it.
        tmp.write("root/Cargo.toml", "[workspace]\nmembers = [\"../elsewhere/app\"]\n[workspace.metadata.confiture]\ndefault_env = \"dev\"\n");
        tmp.write(
            "elsewhere/app/Cargo.toml",
            &format!("{MEMBER}workspace = \"../../root\"\n"),
        );
        let ws = Workspace::discover(&tmp.path.join("elsewhere/app")).unwrap();
        assert_eq!(ws.root, tmp.path.join("root"));
        assert_eq!(ws.settings.default_env, "dev");

        tmp.write(
            "bad/Cargo.toml",
            &format!("{MEMBER}workspace = \"../elsewhere\"\n"),
        );
        let err = Workspace::discover(&tmp.path.join("bad")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message.contains("which has no Cargo.toml"),
            "{}",
            err.message
        );
    }

    #[test]
    fn outside_a_workspace_the_package_or_the_start_is_the_root() {
        let tmp = TempDir::new("confiture_workspace");
        tmp.write("solo/Cargo.toml", MEMBER);
        let ws = Workspace::discover(&tmp.dir("solo/src")).unwrap();
        assert_eq!(ws.root, tmp.path.join("solo"));
        assert_eq!(ws.settings, Settings::default());

        let bare = tmp.dir("bare");
        // The temp directory is not inside a Cargo package on any sane machine.
        let ws = Workspace::discover(&bare).unwrap();
        assert_eq!(ws.root, bare);
        assert_eq!(ws.manifest, None);
    }

    /// A package copied out of its workspace (the example's `db/`) inherits values cargo
    /// cannot find: exit 5 naming the manifest, the key and cargo's reason, never read as a
    /// project of its own whose `db/migrations` is below the copy.
    #[test]
    fn a_package_inheriting_from_no_workspace_is_refused() {
        let tmp = TempDir::new("confiture_workspace");
        for (text, key, from) in [
            (
                "[package]\nname = \"x\"\nversion.workspace = true\n",
                "`package.version.workspace = true`",
                "`workspace.package.version`",
            ),
            (
                "[package]\nname = \"x\"\nversion = \"1.0.0\"\n\n[dependencies]\n\
                 confiture = { workspace = true }\n",
                "`dependencies.confiture.workspace = true`",
                "`workspace.dependencies.confiture`",
            ),
            (
                "[package]\nname = \"x\"\nversion = \"1.0.0\"\n\n[lints]\nworkspace = true\n",
                "`lints.workspace = true`",
                "`workspace.lints`",
            ),
        ] {
            tmp.write("copied/Cargo.toml", text);
            let err = Workspace::discover(&tmp.dir("copied/src")).expect_err(text);
            assert_eq!(err.exit_code(), crate::exit::INVALID, "{err}");
            for says in [
                key,
                from,
                "Cargo.toml` cannot be read by cargo",
                "failed to find a workspace root",
            ] {
                assert!(err.message.contains(says), "{says}: {err}");
            }
        }
        // In its workspace it is read as before.
        tmp.write("Cargo.toml", "[workspace]\nmembers = [\"copied\"]\n");
        let ws = Workspace::discover(&tmp.dir("copied/src")).unwrap();
        assert_eq!(ws.root, tmp.path);
    }

    #[test]
    fn an_environment_file_brings_its_project_else_the_start_s() {
        let tmp = TempDir::new("confiture_workspace");
        tmp.write("solo/Cargo.toml", MEMBER);
        let file = tmp.write("solo/db/environments/x.yaml", "");
        let bare = tmp.dir("bare");
        let ws = Workspace::of_environment_file(&file, &bare).unwrap();
        assert_eq!(ws.root, tmp.path.join("solo"));
        // Outside any project: the start, never the file's directory.
        let file = tmp.write("bare/db/environments/x.yaml", "");
        let ws = Workspace::of_environment_file(&file, &bare).unwrap();
        assert_eq!(ws.root, bare);
        assert_eq!(ws.migrations_dir(), bare.join("db/migrations"));
        let start = tmp.dir("solo/src");
        let ws = Workspace::of_environment_file(&file, &start).unwrap();
        assert_eq!(ws.root, tmp.path.join("solo"));
        // A file whose directory is not there (or is a file) leaves the file's reader to say so.
        for missing in ["nowhere/x.yaml", "solo/Cargo.toml/x.yaml"] {
            let ws = Workspace::of_environment_file(&tmp.path.join(missing), &bare).unwrap();
            assert_eq!(ws.root, bare, "{missing}");
        }
    }

    #[test]
    fn a_single_package_reads_its_package_table() {
        let tmp = TempDir::new("confiture_workspace");
        let manifest = tmp.write(
            "solo/Cargo.toml",
            &format!(
                "{MEMBER}\n[package.metadata.confiture]\nmigrations_dir = \"sql\"\n\
                 default_env = \"dev\"\nfirst_version = 3\n"
            ),
        );
        let ws = Workspace::discover(&tmp.dir("solo/src")).unwrap();
        assert_eq!(ws.root, tmp.path.join("solo"));
        assert_eq!(ws.manifest.as_deref(), Some(manifest.as_path()));
        assert_eq!(ws.package_manifest, None);
        assert_eq!(ws.migrations_dir(), tmp.path.join("solo/sql"));
        assert_eq!(ws.environments_dir(), tmp.path.join("solo/db/environments"));
        assert_eq!(ws.settings.default_env, "dev");
        assert_eq!(ws.settings.first_version, Some(3));
    }

    /// The workspace table gives defaults, a member's table overrides them key by key (its
    /// paths relative to the member); other members and the root keep the workspace's.
    #[test]
    fn a_member_package_table_overrides_the_workspace_table() {
        let tmp = TempDir::new("confiture_workspace");
        let root_manifest = tmp.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"billing\", \"web\"]\n\n\
             [workspace.metadata.confiture]\nmigrations_dir = \"db/migrations\"\n\
             default_env = \"dev\"\nfirst_version = 10\n",
        );
        let billing = tmp.write(
            "billing/Cargo.toml",
            "[package]\nname = \"billing\"\n\n[package.metadata.confiture]\n\
             migrations_dir = \"migrations\"\nfirst_version = 1\n",
        );
        tmp.write("web/Cargo.toml", "[package]\nname = \"web\"\n");

        let ws = Workspace::discover(&tmp.dir("billing/src")).unwrap();
        assert_eq!(ws.root, tmp.path);
        assert_eq!(ws.migrations_dir(), tmp.path.join("billing/migrations"));
        assert_eq!(ws.settings.first_version, Some(1));
        assert_eq!(ws.settings.first_version_from, Some(PACKAGE_SETTING));
        assert_eq!(
            ws.settings.default_env, "dev",
            "not overridden: the workspace's"
        );
        assert_eq!(ws.environments_dir(), tmp.path.join("db/environments"));
        let manifests: Vec<&Path> = ws.manifests().collect();
        assert_eq!(manifests, [root_manifest.as_path(), billing.as_path()]);

        for start in [tmp.dir("web"), tmp.path.clone()] {
            let ws = Workspace::discover(&start).unwrap();
            assert_eq!(ws.migrations_dir(), tmp.path.join("db/migrations"));
            assert_eq!(ws.settings.first_version, Some(10));
            assert_eq!(ws.settings.first_version_from, Some(WORKSPACE_SETTING));
        }
    }

    /// hos4: a member's `../shared/migrations` was `<root>/app/../shared/migrations`, which
    /// a `Migrator` and `confiture-build` showed as such where the CLI (which took the dots
    /// out itself) showed `shared/migrations`.
    #[test]
    fn a_member_directory_climbing_out_of_it_has_no_dot_dot() {
        let tmp = TempDir::new("confiture_workspace");
        tmp.write("Cargo.toml", "[workspace]\nmembers = [\"app\"]\n");
        tmp.write(
            "app/Cargo.toml",
            "[package]\nname = \"app\"\n\n[package.metadata.confiture]\n\
             migrations_dir = \"./../shared/migrations\"\n",
        );
        let ws = Workspace::discover(&tmp.dir("app")).unwrap();
        assert_eq!(ws.migrations_dir(), tmp.path.join("shared/migrations"));
    }

    #[test]
    fn a_root_package_and_a_pointed_member_read_their_tables() {
        let tmp = TempDir::new("confiture_workspace");
        tmp.write(
            "Cargo.toml",
            "[workspace]\n[workspace.metadata.confiture]\ndefault_env = \"dev\"\n\
             [package]\nname = \"root\"\n[package.metadata.confiture]\ndefault_env = \"prod\"\n",
        );
        let ws = Workspace::discover(&tmp.path).unwrap();
        assert_eq!(ws.settings.default_env, "prod");
        assert_eq!(ws.package_manifest, None, "one manifest holds both tables");

        tmp.write(
            "root/Cargo.toml",
            "[workspace]\nmembers = [\"../elsewhere/app\"]\n",
        );
        tmp.write(
            "elsewhere/app/Cargo.toml",
            &format!(
                "{MEMBER}workspace = \"../../root\"\n[package.metadata.confiture]\n\
                 environments_dir = \"envs\"\n"
            ),
        );
        let ws = Workspace::discover(&tmp.path.join("elsewhere/app")).unwrap();
        assert_eq!(ws.root, tmp.path.join("root"));
        assert_eq!(ws.environments_dir(), tmp.path.join("elsewhere/app/envs"));
    }

    /// A mistake in a package table names that table and that manifest; the help says both
    /// tables take the same keys.
    #[test]
    fn errors_in_a_package_table_name_it() {
        let tmp = TempDir::new("confiture_workspace");
        tmp.write("Cargo.toml", "[workspace]\nmembers = [\"app\"]\n");
        let manifest = tmp.write(
            "app/Cargo.toml",
            &format!("{MEMBER}[package.metadata.confiture]\nmigration_dir = \"x\"\n"),
        );
        let err = Workspace::discover(&tmp.path.join("app")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(
            err.message,
            format!(
                "unknown key `migration_dir` in `[package.metadata.confiture]` of `{}:5`",
                crate::display::path(&manifest)
            )
        );
        let help = err.help.unwrap();
        assert!(help.starts_with("did you mean `migrations_dir`?"), "{help}");
        assert!(
            help.contains("[package.metadata.confiture]")
                && help.contains("[workspace.metadata.confiture]"),
            "{help}"
        );

        tmp.write(
            "app/Cargo.toml",
            &format!("{MEMBER}[package.metadata.confiture]\nmigrations_dir = \"\"\n"),
        );
        let err = Workspace::discover(&tmp.path.join("app")).unwrap_err();
        assert_eq!(
            err.message,
            format!(
                "`migrations_dir` in `[package.metadata.confiture]` of `{}:5` must be a non-empty \
                 path string, relative to the package's directory, not an empty string",
                crate::display::path(&manifest)
            )
        );
        // A NUL no file name holds: named at its key and line, as every wrong setting is
        // (the directory's read said "check its permissions").
        for (table, key) in [
            ("[package.metadata.confiture]", "migrations_dir"),
            ("[package.metadata.confiture]", "environments_dir"),
        ] {
            tmp.write(
                "app/Cargo.toml",
                &format!("{MEMBER}{table}\n{key} = \"a\\u0000b\"\n"),
            );
            let err = Workspace::discover(&tmp.path.join("app")).unwrap_err();
            assert_eq!(err.exit_code(), crate::exit::INVALID, "{err}");
            assert_eq!(
                err.message,
                format!(
                    "`{key}` in `{table}` of `{}:5` must be a path without a NUL character, \
                     which no file name can hold, not \"a\\0b\"",
                    crate::display::path(&manifest)
                )
            );
        }
        tmp.write(
            "app/Cargo.toml",
            &format!("{MEMBER}[package.metadata]\nconfiture = 1\n"),
        );
        let err = Workspace::discover(&tmp.path.join("app")).unwrap_err();
        assert!(
            err.message.starts_with("`package.metadata.confiture` in `"),
            "{}",
            err.message
        );
    }

    /// r2ws: a setting's error named its `Cargo.toml` by its absolute path; a build script,
    /// whose lines name every path from the workspace root, has it named from there, a
    /// member's manifest and the root's alike, as [`Workspace::setting_shown`] names a setting.
    #[test]
    fn a_build_script_s_errors_name_the_manifest_from_the_root() {
        let tmp = TempDir::new("confiture_workspace");
        tmp.write("Cargo.toml", "[workspace]\nmembers = [\"app\"]\n");
        tmp.write(
            "app/Cargo.toml",
            &format!("{MEMBER}[package.metadata.confiture]\nfirst_version = 0\n"),
        );
        let app = tmp.path.join("app");
        let err = Workspace::discover_shown_from(&app, ShownFrom::Root).unwrap_err();
        assert!(
            err.message.starts_with(
                "`first_version` in `[package.metadata.confiture]` of `app/Cargo.toml:5` must be"
            ),
            "{}",
            err.message
        );
        tmp.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\"]\n[workspace.metadata.confiture]\nkey = 1\n",
        );
        tmp.write("app/Cargo.toml", MEMBER);
        let err = Workspace::discover_shown_from(&app, ShownFrom::Root).unwrap_err();
        assert_eq!(
            err.message,
            "unknown key `key` in `[workspace.metadata.confiture]` of `Cargo.toml:4`"
        );
        tmp.write(
            "app/Cargo.toml",
            &format!("{MEMBER}[package.metadata.confiture]\nfirst_version = 2\n"),
        );
        tmp.write("Cargo.toml", "[workspace]\nmembers = [\"app\"]\n");
        let ws = Workspace::discover_shown_from(&app, ShownFrom::Root).unwrap();
        let from = ws.settings.first_version_from.unwrap();
        assert_eq!(
            ws.setting_shown("first_version", from, ShownFrom::Root),
            "`first_version` in `[package.metadata.confiture]` of `app/Cargo.toml:5`"
        );
    }

    #[test]
    fn unknown_keys_get_a_did_you_mean() {
        let tmp = TempDir::new("confiture_workspace");
        let manifest = tmp.write(
            "Cargo.toml",
            "[workspace]\n[workspace.metadata.confiture]\nmigration_dir = \"x\"\n",
        );
        let err = Workspace::discover(&tmp.path).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(
            err.message,
            format!(
                "unknown key `migration_dir` in `[workspace.metadata.confiture]` of `{}:3`",
                crate::display::path(&manifest)
            )
        );
        assert!(err
            .help
            .unwrap()
            .starts_with("did you mean `migrations_dir`?"));

        tmp.write(
            "Cargo.toml",
            "[workspace]\n[workspace.metadata.confiture]\ncolour = 1\n",
        );
        let err = Workspace::discover(&tmp.path).unwrap_err();
        assert_eq!(
            err.help.unwrap(),
            format!(
                "the keys are {} (in `[package.metadata.confiture]` and \
                 `[workspace.metadata.confiture]` alike)",
                KEYS.join(", ")
            )
        );
    }

    #[test]
    fn wrong_types_name_the_manifest_and_the_key() {
        let tmp = TempDir::new("confiture_workspace");
        let cases = [
            ("migrations_dir = 3", "`migrations_dir` in `[workspace.metadata.confiture]` of `{}:3` must be a non-empty path string, relative to the workspace root, not an integer"),
            ("environments_dir = \"\"", "`environments_dir` in `[workspace.metadata.confiture]` of `{}:3` must be a non-empty path string, relative to the workspace root, not an empty string"),
            ("default_env = [\"a\"]", "`default_env` in `[workspace.metadata.confiture]` of `{}:3` must be a non-empty string, not an array"),
            ("first_version = -1", "`first_version` in `[workspace.metadata.confiture]` of `{}:3` must be a whole number, 1 or more, not a negative integer"),
            ("first_version = \"5\"", "`first_version` in `[workspace.metadata.confiture]` of `{}:3` must be a whole number, 1 or more, not a string"),
            ("first_version = 1.5", "`first_version` in `[workspace.metadata.confiture]` of `{}:3` must be a whole number, 1 or more, not a float"),
            ("first_version = 0", "`first_version` in `[workspace.metadata.confiture]` of `{}:3` must be 1 or more, not 0: version 0 is the state before every migration (what `migrate down --target 0` returns to), not a migration's"),
        ];
        for (line, expected) in cases {
            let manifest = tmp.write(
                "Cargo.toml",
                &format!("[workspace]\n[workspace.metadata.confiture]\n{line}\n"),
            );
            let err = Workspace::discover(&tmp.path).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid);
            assert_eq!(
                err.message,
                expected.replace("{}", &crate::display::path(&manifest)),
                "{line}"
            );
        }
        tmp.write(
            "Cargo.toml",
            "[workspace]\n[workspace.metadata]\nconfiture = \"yes\"\n",
        );
        let err = Workspace::discover(&tmp.path).unwrap_err();
        assert!(
            err.message.contains("must be a table, not a string"),
            "{}",
            err.message
        );
    }

    /// `default_env = "local.yaml"` (or `"../x"`) was taken as written: the default file was
    /// `local.yaml.yaml`, never there, so a command went on to `DATABASE_URL` (another
    /// database) without a word. It is refused as `--env` refuses the name, in the package's
    /// table as in the workspace's, naming the environment meant.
    #[test]
    fn a_default_env_that_is_no_environment_name_is_refused() {
        let tmp = TempDir::new("confiture_workspace");
        for (value, example) in [
            ("local.yaml", "local"),
            ("local.yml", "local"),
            ("../secrets/prod", "local"),
            ("envs/local", "local"),
            (".hidden", "local"),
        ] {
            for table in [WORKSPACE_TABLE, PACKAGE_TABLE] {
                let manifest = tmp.write(
                    "Cargo.toml",
                    &format!(
                        "[workspace]\n{MEMBER}[{}]\ndefault_env = {value:?}\n",
                        table.trim_matches(['[', ']', '`'])
                    ),
                );
                let err = Workspace::discover(&tmp.path).unwrap_err();
                assert_eq!(err.kind, ErrorKind::Invalid);
                assert_eq!(
                    err.message,
                    format!(
                        "`default_env` in `{table}` of `{}:6` must be the name of an environment, \
                         a file of the environments directory without `.yaml`, not {value:?}",
                        crate::display::path(&manifest)
                    )
                );
                assert_eq!(
                    err.help.as_deref(),
                    Some(format!("for example `default_env = \"{example}\"`").as_str()),
                    "{value}"
                );
            }
        }
        tmp.write(
            "Cargo.toml",
            "[workspace]\n[workspace.metadata.confiture]\ndefault_env = \"dev.eu-1\"\n",
        );
        let ws = Workspace::discover(&tmp.path).unwrap();
        assert_eq!(ws.settings.default_env, "dev.eu-1");
    }

    #[test]
    fn invalid_toml_names_the_file_and_line() {
        let tmp = TempDir::new("confiture_workspace");
        let manifest = tmp.write("Cargo.toml", "[workspace]\nmembers = [\n\n= oops\n");
        let err = Workspace::discover(&tmp.path).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(
            err.message,
            format!("invalid TOML in `{}:4`", crate::display::path(&manifest))
        );
        assert!(err.cause().is_some());
        let source = std::error::Error::source(&err).expect("the parser's error is the source");
        assert!(source.is::<toml::de::Error>(), "{source:?}");
    }

    /// The members the manifests declare follow cargo's glob patterns (`*`, `?`, `[..]` in any
    /// segment, `**`), less `exclude` (unless a member names the path itself); a pattern that
    /// cannot be read is an error naming the Cargo.toml and its line, never passed over.
    #[test]
    fn declared_members_follow_cargo_s_patterns_and_exclude() {
        let tmp = TempDir::new("confiture_workspace");
        let member =
            |name: &str| format!("[package]\nname = \"{name}\"\n[package.metadata.confiture]\n");
        tmp.write(
            "Cargo.toml",
            "[workspace]\nmembers = [\"crates/*-svc\", \"nested/[a-b]?/*\", \"deep/**\", \"plain\", \"deep/x/old\"]\n\
             exclude = [\"crates/old-svc\", \"deep/x\"]\n",
        );
        for (dir, name) in [
            ("crates/pay-svc", "pay"),
            ("crates/old-svc", "old"),
            ("crates/lib", "lib"),
            ("nested/a1/n1", "n1"),
            ("nested/c1/n2", "n2"),
            ("deep/one", "one"),
            ("deep/x/y", "y"),
            ("deep/x/old", "kept"),
            ("plain", "plain"),
        ] {
            tmp.write(&format!("{dir}/Cargo.toml"), &member(name));
        }
        tmp.write("crates/note-svc", "a file, not a directory");
        let ws = Workspace::discover(&tmp.path).unwrap();
        let names: Vec<String> = (ws.declared_members_with_settings().unwrap().into_iter())
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["kept", "n1", "one", "pay", "plain"]);

        for (members, reason) in [
            (
                "[\n  \"crates/*\",\n  \"crates/[a\",\n]",
                "pattern `crates/[a` of `workspace.members` in",
            ),
            ("[\"a**\"]", "`**` must be a whole segment"),
            ("[\"a\", 1]", "an entry is an integer, not a path"),
        ] {
            tmp.write("Cargo.toml", &format!("[workspace]\nmembers = {members}\n"));
            let ws = Workspace::discover(&tmp.path).unwrap();
            let err = ws.declared_members_with_settings().unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid, "{err}");
            let text = err.to_string();
            assert!(text.contains(reason), "{text}");
            assert!(text.contains("Cargo.toml:2"), "{text}");
        }
    }

    #[test]
    fn normalize_removes_dots() {
        assert_eq!(normalize(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
    }
}
