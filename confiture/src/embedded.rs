//! Migrations compiled into a binary: the set `confiture-build` writes into `OUT_DIR` and
//! [`include_migrations!`](crate::include_migrations) includes.
//!
//! ```ignore
//! // build.rs (with confiture-build under [build-dependencies])
//! fn main() -> Result<(), confiture_build::Error> {
//!     confiture_build::Check::new().embed().run()?;
//!     Ok(())
//! }
//!
//! // src/main.rs
//! static MIGRATIONS: &confiture::embedded::EmbeddedMigrations = confiture::include_migrations!();
//! ```
//!
//! Only a directory that passed the build-time check is embedded: with an error, the build
//! script fails and nothing is written. Each file is included with `include_str!`, so Cargo
//! tracks it, and the build script asks Cargo to run it again when the directory or any file
//! in it changes: adding, editing, renaming or deleting a migration rebuilds the set. Cargo
//! tells a change by modification time: a file put back with an older one (`tar -x`, `cp -p`,
//! `rsync -a`, a restored backup) over a newer build is not seen, nor a whole directory moved
//! into place (`mv`) whose files are all older than the build, and the set stays as it was
//! until `touch db/migrations db/migrations/*` or `cargo clean -p <package>`.
//!
//! At run time the set goes through the same rules as a directory: [`EmbeddedMigrations::load`]
//! hands the embedded bytes to [`files::check`] under the paths they were built from
//! (`db/migrations/003_x.up.sql`), so the plan, the ledger rows, the checksums, the lint
//! refusals and the `file:line` of a failing statement are those the same files on disk give.
//! The files need not exist at run time; down files are embedded too.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::files::{self, CheckOptions, Checked, Entry, Origin, TransactionMode};

/// The name of the file `confiture-build` writes into `OUT_DIR`.
pub const FILE_NAME: &str = "confiture_migrations.rs";

/// Includes the set `confiture-build` embedded (`Check::new().embed()` in `build.rs`): a
/// `&'static` [`EmbeddedMigrations`].
///
/// ```ignore
/// static MIGRATIONS: &confiture::embedded::EmbeddedMigrations = confiture::include_migrations!();
/// ```
///
/// The generated code names this crate through the macro (`$crate`), so a dependency renamed
/// in `Cargo.toml` works too. Without a build script that embeds, it does not compile, and the
/// error says to call `Check::new().embed()`: a check without `embed()` writes a
/// `compile_error!` in place of the set (never leaving an earlier build's set to be compiled,
/// stale), and a package without a build script has no `OUT_DIR`.
#[macro_export]
macro_rules! include_migrations {
    () => {{
        use $crate as __confiture_embedded;
        include!(concat!(
            env!(
                "OUT_DIR",
                "confiture::include_migrations!() needs the migrations embedded by a build \
                 script: add build.rs with `confiture_build::Check::new().embed().run()?` \
                 (confiture-build under [build-dependencies])"
            ),
            "/confiture_migrations.rs"
        ))
    }};
}

/// Every migration of a directory, as the build script found and checked it. Written by
/// `confiture-build` (the fields are public so that its generated code can build the value in a
/// `static`); read it through the methods.
#[derive(Debug)]
pub struct EmbeddedMigrations {
    /// The Cargo package that embedded the set (`CARGO_PKG_NAME` of the build script).
    pub package: &'static str,
    /// Its version (`CARGO_PKG_VERSION`): which build knows which migrations.
    pub package_version: &'static str,
    /// The migrations directory, relative to the workspace root (`db/migrations`): the paths
    /// diagnostics and errors name.
    pub dir: &'static str,
    /// `first_version` of a squashed history, as the build script read it.
    pub first_version: Option<u64>,
    /// In version order.
    pub migrations: &'static [EmbeddedMigration],
    /// confiture (Python)'s migrations of the directory, by file name (`003_c.py`), in version
    /// order: never run (only confiture (Python) can), but each takes its version, as in the
    /// directory, so that the set's check, plan and history are the directory's.
    pub python: &'static [&'static str],
}

/// One embedded migration, with what the build-time check found in it.
#[derive(Debug)]
pub struct EmbeddedMigration {
    /// The version compared as an integer.
    pub version: u64,
    /// The version exactly as in the file name (`"003"`): the ledger's `version` column.
    pub version_text: &'static str,
    /// The ledger's `name` column.
    pub name: &'static str,
    /// `-- confiture:no-transaction` or not.
    pub mode: TransactionMode,
    /// The down file carries `-- confiture:irreversible`.
    pub irreversible: bool,
    /// The `.up.sql` file.
    pub up: EmbeddedFile,
    /// The `.down.sql` file.
    pub down: EmbeddedFile,
}

/// One embedded `.sql` file.
#[derive(Debug)]
pub struct EmbeddedFile {
    /// `003_create_tb_comment.up.sql`.
    pub file_name: &'static str,
    /// The file's text, `include_str!`-ed: the exact bytes (a BOM, CRLF kept).
    pub sql: &'static str,
    /// Lowercase hex SHA-256 of those bytes, computed by the build script: what the ledger's
    /// `checksum` column records.
    pub checksum: &'static str,
}

impl EmbeddedMigrations {
    /// The check options the set was built with.
    pub fn check_options(&self) -> CheckOptions {
        CheckOptions::default().first_version(self.first_version)
    }

    /// The directory the set was built from, as errors name it.
    pub fn dir(&self) -> &Path {
        Path::new(self.dir)
    }

    /// The embedded files as [`files::read_dir`] would have read them from [`Self::dir`],
    /// confiture (Python)'s migrations included.
    pub fn entries(&self) -> Vec<Entry> {
        let dir = self.dir();
        let sql = (self.migrations.iter())
            .flat_map(|m| [&m.up, &m.down])
            .map(|file| Entry::File {
                path: dir.join(file.file_name),
                bytes: file.sql.as_bytes().to_vec(),
            });
        let python = (self.python.iter()).map(|name| Entry::Python {
            path: dir.join(name),
        });
        sql.chain(python).collect()
    }

    /// Checks the embedded files with the rules of this `confiture` (the same [`files::check`]
    /// a directory goes through) and returns the set, marked [`Origin::Embedded`], with every
    /// diagnostic. `Err` (invalid) when what the build script recorded — versions, names,
    /// checksums, transaction modes, markers — is not what the files give: a generated file
    /// that was tampered with.
    pub fn load(&self) -> Result<Checked> {
        let mut checked = files::check(self.dir(), self.entries(), &self.check_options());
        self.verify(&checked)?;
        checked.set.origin = Origin::Embedded {
            package: self.package.to_string(),
            version: self.package_version.to_string(),
        };
        Ok(checked)
    }

    fn verify(&self, checked: &Checked) -> Result<()> {
        let mut mismatches = Vec::new();
        for embedded in self.migrations {
            let found = checked
                .set
                .migrations
                .iter()
                .find(|m| m.version_text == embedded.version_text && m.name == embedded.name);
            let Some(found) = found else {
                if !checked.has_errors() {
                    mismatches.push(format!(
                        "{}_{}: not a migration of the embedded files",
                        embedded.version_text, embedded.name
                    ));
                }
                continue;
            };
            let path = |name: &str| PathBuf::from(self.dir).join(name);
            if found.version != embedded.version {
                mismatches.push(format!("{}: version {}", found.id(), embedded.version));
            }
            for (file, recorded) in [(&found.up, &embedded.up), (&found.down, &embedded.down)] {
                if file.path != path(recorded.file_name) || file.checksum != recorded.checksum {
                    mismatches.push(format!(
                        "{}: recorded checksum {} of {}, the embedded text has {}",
                        found.id(),
                        recorded.checksum,
                        recorded.file_name,
                        file.checksum
                    ));
                }
            }
            if found.up.mode != embedded.mode || found.down.irreversible != embedded.irreversible {
                mismatches.push(format!("{}: markers differ", found.id()));
            }
        }
        for name in self.python {
            let path = self.dir().join(name);
            if !checked.set.python.iter().any(|p| p.path == path) && !checked.has_errors() {
                mismatches.push(format!("{name}: not a migration of the embedded files"));
            }
        }
        if mismatches.is_empty() {
            return Ok(());
        }
        let mut error = Error::invalid(format!(
            "the migrations embedded in {} {} do not match what their build script recorded",
            self.package, self.package_version
        ))
        .with_help("rebuild the binary: the generated file in OUT_DIR was changed by hand");
        error.details = mismatches;
        Err(error)
    }

    /// How many migrations the set holds.
    pub fn len(&self) -> usize {
        self.migrations.len()
    }

    /// Whether the set holds no migration.
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty()
    }

    /// The newest version the set knows.
    pub fn newest(&self) -> Option<&EmbeddedMigration> {
        self.migrations.iter().max_by_key(|m| m.version)
    }
}

impl EmbeddedMigration {
    /// `003_create_tb_comment`, as the status table shows it.
    pub fn id(&self) -> String {
        format!("{}_{}", self.version_text, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = "CREATE TABLE t (id int);\n";
    const DOWN: &str = "DROP TABLE t;\n";

    fn set(checksum: &'static str) -> EmbeddedMigrations {
        let migrations: &'static [EmbeddedMigration] = Box::leak(Box::new([EmbeddedMigration {
            version: 1,
            version_text: "001",
            name: "t",
            mode: TransactionMode::Transaction,
            irreversible: false,
            up: EmbeddedFile {
                file_name: "001_t.up.sql",
                sql: UP,
                checksum,
            },
            down: EmbeddedFile {
                file_name: "001_t.down.sql",
                sql: DOWN,
                checksum: Box::leak(files::checksum(DOWN.as_bytes()).into_boxed_str()),
            },
        }]));
        EmbeddedMigrations {
            package: "app",
            package_version: "1.2.3",
            dir: "db/migrations",
            first_version: None,
            migrations,
            python: &[],
        }
    }

    #[test]
    fn loads_as_the_directory_would_with_its_paths_and_origin() {
        let checksum: &str = Box::leak(files::checksum(UP.as_bytes()).into_boxed_str());
        let checked = set(checksum).load().unwrap();
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let m = &checked.set.migrations[0];
        assert_eq!(m.up.path, Path::new("db/migrations/001_t.up.sql"));
        assert_eq!(m.up.checksum, checksum);
        assert_eq!(checked.set.dir, Path::new("db/migrations"));
        assert_eq!(
            checked.set.origin,
            Origin::Embedded {
                package: "app".into(),
                version: "1.2.3".into()
            }
        );
    }

    /// A confiture (Python) migration takes its version in the embedded set as in the
    /// directory (the set held the `.sql` pairs alone: a pair after it was a gap, C004).
    #[test]
    fn a_python_migration_takes_its_version_as_in_the_directory() {
        let checksum: &str = Box::leak(files::checksum(UP.as_bytes()).into_boxed_str());
        let mut set = set(checksum);
        set.python = &["002_p.py"];
        let checked = set.load().unwrap();
        assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
        let paths: Vec<_> = (checked.set.python.iter())
            .map(|p| p.path.clone())
            .collect();
        assert_eq!(paths, [Path::new("db/migrations/002_p.py")]);
        assert!(checked.set.has_version(2));
    }

    #[test]
    fn a_recorded_checksum_that_differs_from_the_text_is_refused() {
        let err = set("00").load().unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Invalid);
        assert!(err.details[0].contains("001_t.up.sql"), "{err:?}");
    }
}
