//! Which package's settings a command uses: the one the current directory is in (the fast
//! path: `Workspace::discover` reads the manifests itself), the one `--manifest-path` names,
//! or the workspace member `-p NAME` names, found with `cargo metadata` (the full view of the
//! workspace, ≈ 30 ms, paid only when `-p` is given).

use std::path::{Path, PathBuf};

use confiture::{display, Error, Result};

/// The directory discovery starts from.
pub fn start(cwd: &Path, package: Option<&str>, manifest_path: Option<&Path>) -> Result<PathBuf> {
    let manifest = manifest_path.map(|path| manifest(cwd, path)).transpose()?;
    match package {
        Some(name) => member_dir(cwd, name, manifest.as_deref()),
        None => Ok(match manifest {
            Some(manifest) => manifest
                .parent()
                .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf),
            None => cwd.to_path_buf(),
        }),
    }
}

/// `--manifest-path`: an existing file named `Cargo.toml`, as cargo requires. Read as cargo
/// reads it (`cargo::util::command_prelude::root_manifest`): the path's components, so that a
/// trailing `/` (`Cargo.toml/`, a shell's completion) names the file, and a directory is said
/// to be one (with its Cargo.toml, when it has one, to give instead) before its name is judged.
fn manifest(cwd: &Path, path: &Path) -> Result<PathBuf> {
    let absolute: PathBuf = cwd.join(path).components().collect();
    let shown = display::path(path);
    let help = "give the path of a Cargo.toml file, e.g. --manifest-path billing/Cargo.toml";
    // A path that names no file is a flag value that cannot be used (64); a Cargo.toml that is
    // there but broken is the file's reader's to name (5).
    if absolute.is_dir() {
        let inside = absolute.join("Cargo.toml");
        let error = Error::usage(format!(
            "--manifest-path {shown} is a directory, not a Cargo.toml file"
        ));
        return Err(if inside.is_file() {
            error.with_help(format!(
                "give the Cargo.toml it holds: --manifest-path {}",
                display::path(&path.join("Cargo.toml"))
            ))
        } else {
            error.with_help(help)
        });
    }
    if absolute.file_name().is_none_or(|name| name != "Cargo.toml") {
        return Err(
            Error::usage(format!("--manifest-path {shown} is not a Cargo.toml")).with_help(help),
        );
    }
    if std::fs::symlink_metadata(&absolute).is_err() || !absolute.exists() {
        return Err(
            Error::usage(format!("--manifest-path {shown} does not exist"))
                .with_help("give the path of an existing Cargo.toml"),
        );
    }
    Ok(absolute)
}

/// The directory of the workspace member named `name`.
fn member_dir(cwd: &Path, name: &str, manifest: Option<&Path>) -> Result<PathBuf> {
    // Outside any Cargo project `-p` cannot be used (64); a broken Cargo.toml is refused by
    // its reader (5), as `cargo metadata` would refuse it.
    if manifest.is_none()
        && confiture::workspace::Workspace::discover(cwd)?
            .manifest
            .is_none()
    {
        return Err(Error::usage(format!(
            "-p {} needs a Cargo workspace: there is no Cargo.toml in the current directory \
             ({}) or above",
            display::escape(name),
            display::current_dir(cwd)
        ))
        .with_help(
            "run from inside the workspace, or give its Cargo.toml with --manifest-path PATH",
        ));
    }
    let mut command = cargo_metadata::MetadataCommand::new();
    command.no_deps().current_dir(cwd);
    if let Some(manifest) = manifest {
        command.manifest_path(manifest);
    }
    let metadata = command.exec().map_err(|e| {
        metadata_failure(
            Error::invalid(format!(
                "cannot list the workspace's packages to find `-p {}`",
                display::escape(name)
            ))
            .with_help("run `cargo metadata --no-deps` to see what cargo says"),
            e,
        )
    })?;
    let members = metadata.workspace_packages();
    if let Some(package) = members.iter().find(|p| p.name.as_str() == name) {
        let dir = package
            .manifest_path
            .parent()
            .unwrap_or(&package.manifest_path);
        return Ok(dir.as_std_path().to_path_buf());
    }
    let mut names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    Err(Error::usage(format!(
        "package `{}` is not a member of the workspace at {}",
        display::escape(name),
        display::path(metadata.workspace_root.as_std_path())
    ))
    .with_help(if names.is_empty() {
        "the workspace has no member packages: run without -p".to_string()
    } else {
        let suggestion = confiture::text::did_you_mean(name, names.iter().copied())
            .map_or_else(String::new, |close| format!("did you mean -p {close}? "));
        format!("{suggestion}the members are {}", names.join(", "))
    }))
}

/// `error` caused by `cargo metadata`'s failure `e`: cargo's report spans lines (a snippet of
/// the broken Cargo.toml under its position), one detail a line, indented under the message,
/// so that it reads as cargo printed it instead of on one line with `\n` escapes.
fn metadata_failure(error: Error, e: cargo_metadata::Error) -> Error {
    match e {
        cargo_metadata::Error::CargoMetadata { stderr } => {
            stderr.lines().filter(|line| !line.trim().is_empty()).fold(
                error.with_cause("`cargo metadata` exited with an error"),
                |error, line| error.with_detail(format!("  {line}")),
            )
        }
        other => error.with_source(other),
    }
}

/// A member with confiture settings: its package name, directory and migrations directory.
pub type Member = (String, PathBuf, PathBuf);

/// The members of `workspace`, virtual (no package of its own), whose Cargo.toml has
/// a `[package.metadata.confiture]` table: each one's name, directory and migrations directory
/// (as [`confiture::workspace::Workspace::discover`] reads it from there). Empty for a
/// workspace with a root package. Asked only when the root's migrations directory does not
/// exist: at a virtual root, the migrations are a member's, which `-p NAME` selects. When
/// `cargo metadata` cannot list the members (a member without its `src/` yet), its failure
/// (its error, with cargo's report as details) beside the members the manifests declare with
/// settings ([`confiture::workspace::Workspace::declared_members_with_settings`]), whose
/// error, a pattern of `[workspace] members` it cannot read, is this one's.
pub fn members_with_settings(
    workspace: &confiture::workspace::Workspace,
) -> Result<(Vec<Member>, Option<Error>)> {
    let root = &workspace.root;
    let with_migrations = |(name, dir): (String, PathBuf)| {
        let migrations = confiture::workspace::Workspace::discover(&dir)
            .ok()?
            .migrations_dir();
        Some((name, dir, migrations))
    };
    let metadata = match cargo_metadata::MetadataCommand::new()
        .no_deps()
        .current_dir(root)
        .manifest_path(root.join("Cargo.toml"))
        .exec()
    {
        Ok(metadata) => metadata,
        Err(e) => {
            let error = metadata_failure(
                Error::invalid("cargo cannot list the workspace's members"),
                e,
            );
            // A pattern the manifests cannot be read with: its error, never passed over.
            let declared = (workspace.declared_members_with_settings()?.into_iter())
                .filter_map(with_migrations)
                .collect();
            return Ok((declared, Some(error)));
        }
    };
    if metadata.root_package().is_some() {
        return Ok((Vec::new(), None));
    }
    let mut members: Vec<Member> = metadata
        .workspace_packages()
        .iter()
        .filter(|package| !package.metadata["confiture"].is_null())
        .filter_map(|package| {
            let dir = package.manifest_path.parent()?.as_std_path().to_path_buf();
            with_migrations((package.name.to_string(), dir))
        })
        .collect();
    members.sort();
    Ok((members, None))
}
