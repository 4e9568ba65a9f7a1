//! `migrate generate NAME`: the next pair of files, decided purely. The CLI writes them (with
//! `create_new`, so that nothing is ever overwritten).

use std::path::PathBuf;

use super::checker;
use super::name::{self, NAME_FORM};
use super::Checked;
use crate::diagnostic::Diagnostic;
use crate::error::{Error, Result};

/// The pair of files `migrate generate` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMigration {
    /// The new version as an integer.
    pub version: u64,
    /// `"003"`: the highest version + 1, padded to the directory's width
    /// ([`Checked::version_width`]: 3 digits at least).
    pub version_text: String,
    /// The name given, as in the file names.
    pub name: String,
    /// Path of the `.up.sql` file.
    pub up_path: PathBuf,
    /// Path of the `.down.sql` file.
    pub down_path: PathBuf,
    /// Text of the `.up.sql` file.
    pub up_text: String,
    /// Text of the `.down.sql` file.
    pub down_text: String,
    /// The migrations already using this name (`006_add_tags`), in version order: a name used
    /// twice makes the history's `renumbered`/`ambiguous` states, decided by name, ambiguous.
    pub same_name: Vec<String>,
}

impl NewMigration {
    /// Whether `checked` (the directory read again, just before writing) has a file of this
    /// version or a later one, paired or not: another run numbered meanwhile, so this pair
    /// must be numbered again rather than written.
    pub fn is_taken_in(&self, checked: &Checked) -> bool {
        checked
            .file_versions
            .last()
            .is_some_and(|&newest| newest >= self.version)
    }
}

/// The errors that make the next version uncertain: numbering after a broken sequence would
/// only add to it. Other errors (an empty file, a lint rule) do not: the pair that
/// `generate` created a minute ago is empty until it is written, and must not stop the next.
const NUMBERING_RULES: &[&str] = &[
    checker::MISSING_DOWN.code,
    checker::MISSING_UP.code,
    checker::DUPLICATE_VERSION.code,
    checker::VERSION_GAP.code,
    checker::FIRST_VERSION.code,
    checker::BAD_FILE_NAME.code,
    checker::UNREADABLE_FILE.code,
];

/// Whether `diagnostic` keeps `generate` from choosing the next version.
pub fn blocks_numbering(diagnostic: &Diagnostic) -> bool {
    diagnostic.is_error() && NUMBERING_RULES.contains(&diagnostic.code)
}

/// The next migration after those of `checked`, named `name`. Refuses a name that is not
/// lowercase snake_case (suggesting the corrected one) and a directory whose numbering is
/// broken ([`blocks_numbering`]). Both are `Invalid` (exit 5).
pub fn new_migration(checked: &Checked, name: &str) -> Result<NewMigration> {
    if name.trim().is_empty() {
        return Err(Error::invalid("the migration name is empty")
            .with_help(format!("name what it changes: {NAME_FORM}")));
    }
    if crate::config::names_a_connection(name) {
        // Never shown, nor anything made of it: a corrected name would carry its password.
        return Err(crate::config::connection_given_as(
            crate::config::InPlaceOf::Name {
                what: "migration name",
                given_to: "`migrate generate`",
            },
            format!(
                "name what the migration changes: {NAME_FORM}; `migrate generate` writes files \
                 and never connects to a database"
            ),
        ));
    }
    if name.len() > name::MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "the migration name is too long: {} bytes, at most {}",
            name.len(),
            name::MAX_NAME_LEN
        ))
        .with_help("shorten it: the name says what the migration changes, the SQL says how"));
    }
    if !name::is_valid_name(name) {
        let err = Error::invalid(format!("`{name}` is not a valid migration name"));
        return Err(match name::suggest_name(name) {
            // A name in use is never suggested: the command would warn about it.
            Some(suggestion) => match migrations_named(checked, &suggestion).as_slice() {
                [] => err.with_help(format!(
                    "use `{suggestion}`: {}; a migration name is {NAME_FORM}",
                    crate::hint::command(&format!("migrate generate {suggestion}"))
                )),
                used => err.with_help(format!(
                    "{}; a migration name is {NAME_FORM}",
                    name_in_use(used, &suggestion)
                )),
            },
            None => err.with_help(format!("a migration name is {NAME_FORM}")),
        });
    }
    let errors: Vec<_> = checked
        .diagnostics
        .iter()
        .filter(|d| blocks_numbering(d))
        .collect();
    if !errors.is_empty() {
        return Err(super::refusal(
            &checked.set.dir,
            errors,
            "no migration was generated",
        ));
    }

    // The newest file of any kind — a confiture (Python) `.py` migration too — is numbered:
    // the next version is above every one [`NewMigration::is_taken_in`] would find taken.
    let last = checked
        .set
        .versions_on_disk()
        .into_iter()
        .map(|(version, id)| {
            let text = id.split('_').next().unwrap_or_default().to_string();
            (version, text)
        })
        .chain(checked.file_versions.last().map(|&v| (v, v.to_string())))
        .max_by_key(|(version, text)| (*version, text.len()));
    let version = match &last {
        // A squashed history's directory starts at its first version.
        None => crate::history::first_version(checked.first_version),
        Some((version, _)) => version.saturating_add(1),
    };
    // The width lint's C011 expects (the one most versions have), never the highest's alone:
    // a pair padded otherwise would be reported, and sort out of order.
    let version_text = name::version_text(version, checked.version_width);
    // The rule every file name's version is checked by (`Version`'s range): a pair numbered
    // above it would be refused by the next command that reads the directory.
    if let Err(crate::history::VersionError::TooLarge) =
        crate::history::Version::number_of(&version_text)
    {
        let after = last.as_ref().map_or_else(
            || "the first version".to_string(),
            |(_, text)| format!("version {text}"),
        );
        return Err(Error::invalid(format!(
            "no migration can follow {after}: the next version, {version_text}, is {}",
            crate::history::above_max_version()
        ))
        .with_help(
            "nothing was written; versions are numbered up from `first_version`: start a \
             squashed history lower to leave room for the migrations that follow it",
        ));
    }
    let stem = format!("{version_text}_{name}");
    let dir = &checked.set.dir;
    Ok(NewMigration {
        version,
        up_path: dir.join(format!("{stem}.up.sql")),
        down_path: dir.join(format!("{stem}.down.sql")),
        up_text: up_template(&version_text, name),
        down_text: down_template(&version_text, name),
        version_text,
        name: name.to_string(),
        same_name: migrations_named(checked, name),
    })
}

/// The migrations of `checked` already named `name` (`006_add_tags`), in version order, a
/// pair sharing its version with another (C003) included: a name used twice makes the
/// history's `renumbered`/`ambiguous` states, decided by name, ambiguous. The one rule of
/// [`NewMigration::same_name`] (what `generate` warns about) and of the names its refusals
/// never suggest.
fn migrations_named(checked: &Checked, name: &str) -> Vec<String> {
    let mut named: Vec<&super::Migration> = (checked.set.migrations.iter())
        .chain(&checked.set.duplicates)
        .filter(|m| m.name == name)
        .collect();
    named.sort_by_key(|m| m.version);
    named
        .into_iter()
        .map(|m| format!("{}_{}", m.version_text, m.name))
        .collect()
}

/// Why `name` is not suggested: the migrations `used` already have it
/// ([`migrations_named`]), as `generate`'s warning says.
fn name_in_use(used: &[String], name: &str) -> String {
    format!(
        "{} already {} the name `{name}` (history checks match migrations by name): give this \
         migration a name of its own, saying what it changes",
        used.iter()
            .map(|id| format!("`{}`", crate::display::escape(id)))
            .collect::<Vec<_>>()
            .join(", "),
        if used.len() == 1 { "uses" } else { "use" }
    )
}

// The templates are only a title: the file is part of the checksum and every `--dry-run`
// prints it, so guidance belongs in `generate`'s output, not here. Left as is, the up file is
// comments only, which lint reports (C007) until the SQL is written.
fn up_template(version_text: &str, name: &str) -> String {
    format!("-- Migration {version_text}: {name}\n\n")
}

fn down_template(version_text: &str, name: &str) -> String {
    format!("-- Migration {version_text}: {name} (rollback)\n\n")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::error::ErrorKind;
    use crate::files::{check, markers, CheckOptions, Entry};

    /// The directory of `files`, each `.sql` file holding `SELECT 1;`; a `.py` file is a
    /// confiture (Python) migration, as `read_dir` gives it.
    fn checked(files: &[&str]) -> Checked {
        let dir = Path::new("db/migrations");
        let entries = files
            .iter()
            .map(|f| match f.ends_with(".py") {
                true => Entry::Python { path: dir.join(f) },
                false => Entry::File {
                    path: dir.join(f),
                    bytes: b"SELECT 1;\n".to_vec(),
                },
            })
            .collect();
        check(dir, entries, &CheckOptions::default())
    }

    #[test]
    fn first_migration_is_001() {
        let new = new_migration(&checked(&[]), "initial_schema").unwrap();
        assert_eq!((new.version, new.version_text.as_str()), (1, "001"));
        assert_eq!(
            new.up_path,
            Path::new("db/migrations/001_initial_schema.up.sql")
        );
        assert_eq!(
            new.down_path,
            Path::new("db/migrations/001_initial_schema.down.sql")
        );
    }

    #[test]
    fn an_empty_squashed_directory_starts_at_its_first_version() {
        let entries = Vec::new();
        let options = crate::files::CheckOptions::default().first_version(Some(40));
        let checked = check(Path::new("m"), entries, &options);
        let new = new_migration(&checked, "after_squash").unwrap();
        assert_eq!(new.version_text, "040");
    }

    /// lintux N28: a name another migration already uses is named, for `generate` to warn.
    #[test]
    fn a_name_already_used_is_named() {
        let set = checked(&[
            "001_add_tags.up.sql",
            "001_add_tags.down.sql",
            "002_b.up.sql",
            "002_b.down.sql",
        ]);
        let new = new_migration(&set, "add_tags").unwrap();
        assert_eq!(new.same_name, ["001_add_tags"]);
        assert!(new_migration(&set, "add_tag").unwrap().same_name.is_empty());
    }

    #[test]
    fn next_version_is_highest_plus_one() {
        let set = checked(&[
            "001_a.up.sql",
            "001_a.down.sql",
            "002_b.up.sql",
            "002_b.down.sql",
        ]);
        let new = new_migration(&set, "create_tb_comment").unwrap();
        assert_eq!(new.version_text, "003");
        assert_eq!(
            new.up_path,
            Path::new("db/migrations/003_create_tb_comment.up.sql")
        );
        assert!(new
            .up_text
            .starts_with("-- Migration 003: create_tb_comment\n"));
        assert_eq!(
            new.down_text,
            "-- Migration 003: create_tb_comment (rollback)\n\n"
        );
    }

    #[test]
    fn width_is_kept_and_grows_naturally() {
        let set = checked(&["0001_a.up.sql", "0001_a.down.sql"]);
        assert_eq!(new_migration(&set, "b").unwrap().version_text, "0002");
        let files: Vec<String> = (1..=999)
            .flat_map(|v| [format!("{v:03}_m.up.sql"), format!("{v:03}_m.down.sql")])
            .collect();
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        assert_eq!(
            new_migration(&checked(&files), "b").unwrap().version_text,
            "1000"
        );
    }

    /// hst 3: `generate "Create Users"` suggested `generate create_users` with
    /// `001_create_users` there, and that command then warned of the reused name. A suggestion
    /// is never a name `generate` would warn about (`same_name`): the help names the migration
    /// using it instead, a duplicate pair of a version (C003) too, and suggests no command.
    #[test]
    fn a_suggested_name_is_never_one_already_used() {
        for files in [
            &["001_create_users.up.sql", "001_create_users.down.sql"][..],
            &[
                "001_a.up.sql",
                "001_a.down.sql",
                "001_create_users.up.sql",
                "001_create_users.down.sql",
            ][..],
        ] {
            let set = checked(files);
            for arg in ["Create Users", "create-users", "002_create_users.up.sql"] {
                let err = new_migration(&set, arg).unwrap_err();
                assert_eq!(err.kind, ErrorKind::Invalid);
                let help = err.help.unwrap();
                assert!(!help.contains("migrate generate"), "{arg}: {help}");
                assert!(
                    help.contains("`001_create_users` already uses the name `create_users`"),
                    "{arg}: {help}"
                );
                // The name it names is the one `generate` warns about (the duplicate pair's
                // directory is refused: C003 blocks numbering).
                if let Ok(new) = new_migration(&set, "create_users") {
                    assert_eq!(new.same_name, ["001_create_users"]);
                }
            }
        }
        // A name no migration uses is still suggested as a command.
        let help = new_migration(
            &checked(&["001_create_users.up.sql", "001_create_users.down.sql"]),
            "Add Bio",
        )
        .unwrap_err()
        .help
        .unwrap();
        assert!(
            help.starts_with("use `add_bio`: `cargo confiture migrate generate add_bio`;"),
            "{help}"
        );
    }

    #[test]
    fn invalid_names_are_refused_with_a_suggestion() {
        for (arg, suggestion) in [
            ("add bio", "add_bio"),
            ("AddBio", "add_bio"),
            ("add-bio", "add_bio"),
        ] {
            let err = new_migration(&checked(&[]), arg).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Invalid);
            assert_eq!(
                err.message,
                format!("`{arg}` is not a valid migration name")
            );
            let help = err.help.unwrap();
            // The command to paste, not only the name.
            assert!(
                help.starts_with(&format!(
                    "use `{suggestion}`: `cargo confiture migrate generate {suggestion}`;"
                )),
                "{help}"
            );
        }
        let err = new_migration(&checked(&[]), "2fa").unwrap_err();
        assert!(err
            .help
            .unwrap()
            .starts_with("a migration name is lowercase letters"));
    }

    #[test]
    fn empty_and_overlong_names_are_refused() {
        let set = checked(&[]);
        let err = new_migration(&set, "").unwrap_err();
        assert_eq!(err.message, "the migration name is empty");
        let long = "a".repeat(name::MAX_NAME_LEN + 1);
        let err = new_migration(&set, &long).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("is too long"), "{}", err.message);
        assert!(!err.message.contains(&long), "the name is not echoed");
        let longest = "a".repeat(name::MAX_NAME_LEN);
        let new = new_migration(&set, &longest).unwrap();
        let file_name = new.down_path.file_name().unwrap().len();
        assert!(file_name <= 255, "{file_name}");
    }

    #[test]
    fn a_directory_with_errors_is_refused() {
        let set = checked(&["001_a.up.sql", "001_a.down.sql", "002_b.up.sql"]);
        let err = new_migration(&set, "c").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert_eq!(err.exit_code(), crate::exit::INVALID);
        assert!(err.message.contains("has 1 error;"), "{}", err.message);
        assert_eq!(
            err.details,
            ["db/migrations/002_b.up.sql: C001: `002_b.up.sql` has no down file"]
        );
    }

    #[test]
    fn errors_that_leave_numbering_clear_do_not_block() {
        let dir = Path::new("db/migrations");
        let entries = ["001_a.up.sql", "001_a.down.sql"]
            .iter()
            .map(|f| Entry::File {
                path: dir.join(f),
                // What `generate` wrote a minute ago: comments only (C007, C008).
                bytes: b"-- to do\n".to_vec(),
            })
            .collect();
        let set = check(dir, entries, &CheckOptions::default());
        assert!(set.has_errors());
        assert_eq!(new_migration(&set, "b").unwrap().version_text, "002");
    }

    #[test]
    fn a_version_with_any_file_is_taken() {
        let new = new_migration(&checked(&["001_a.up.sql", "001_a.down.sql"]), "b").unwrap();
        assert_eq!(new.version, 2);
        assert!(!new.is_taken_in(&checked(&["001_a.up.sql", "001_a.down.sql"])));
        for files in [
            // Paired, as another run writes it.
            &["002_c.up.sql", "002_c.down.sql"][..],
            // Half a pair: its up file written, its down file not yet.
            &["002_c.up.sql"],
            &["002_c.down.sql"],
            // A later version: the number is stale too.
            &["003_c.up.sql"],
        ] {
            let mut all = vec!["001_a.up.sql", "001_a.down.sql"];
            all.extend_from_slice(files);
            let again = checked(&all);
            assert!(new.is_taken_in(&again), "{files:?}");
        }
        let versions = checked(&[
            "001_a.up.sql",
            "001_a.down.sql",
            "001_b.up.sql",
            "003_c.down.sql",
        ]);
        assert_eq!(versions.file_versions, [1, 3]);
    }

    /// h18 F12: after `9223372036854775807_a` (the largest version), `generate` wrote
    /// `9223372036854775808_b`, a pair every later command refused (C006: version too large).
    /// It refuses, before writing, any version the file rules would refuse.
    #[test]
    fn a_version_above_the_largest_is_refused_before_writing() {
        let max = crate::history::MAX_VERSION;
        // A squashed history that starts there: `first_version` as the file rules read it.
        let checked = |files: &[&str], first: u64| {
            let dir = Path::new("db/migrations");
            let entries = files
                .iter()
                .map(|f| Entry::File {
                    path: dir.join(f),
                    bytes: b"SELECT 1;\n".to_vec(),
                })
                .collect();
            check(
                dir,
                entries,
                &CheckOptions::default().first_version(Some(first)),
            )
        };
        for files in [
            vec![format!("{max}_a.up.sql"), format!("{max}_a.down.sql")],
            // Padded wider: the same number.
            vec![format!("0{max}_a.up.sql"), format!("0{max}_a.down.sql")],
        ] {
            let files: Vec<&str> = files.iter().map(String::as_str).collect();
            let set = checked(&files, max);
            assert!(!set.has_errors(), "{:?}", set.diagnostics);
            let err = new_migration(&set, "b").unwrap_err();
            assert_eq!(err.exit_code(), crate::exit::INVALID);
            assert!(
                err.message.starts_with("no migration can follow version")
                    && err.message.ends_with(&format!(
                        "is above {max}, the largest version a migration may have"
                    )),
                "{}",
                err.message
            );
        }
        // One below the largest: the largest is still free.
        let below = max - 1;
        let set = checked(
            &[&format!("{below}_a.up.sql"), &format!("{below}_a.down.sql")],
            below,
        );
        let new = new_migration(&set, "b").unwrap();
        assert_eq!(new.version, max);
        let file_name = new.up_path.file_name().unwrap().to_str().unwrap();
        assert!(name::parse_file_name(file_name).is_ok(), "{file_name}");
    }

    /// hst: `generate` padded the new version to the highest version's width, while lint's
    /// C011 pads to the width most versions have: after `001_a`, `002_b`, `0003_c` (C011 on
    /// `0003_c`) it wrote `0004_d`, a second C011, sorting before `001_a`. The pair `generate`
    /// adds never draws a C011 of its own: it takes the directory's width as lint decides it.
    #[test]
    fn the_new_pair_takes_the_width_lint_expects() {
        for files in [
            &["001_a", "002_b", "0003_c"][..],
            &["0001_a", "0002_b", "003_c"],
            &["001_a", "0002_b"],
            &["0001_a", "002_b"],
            &["0001_a"],
            &["0001_py.py", "0002_py.py", "003_c"],
            &["001_py.py", "0002_c"],
        ] {
            let mut names: Vec<String> = Vec::new();
            for stem in files {
                if stem.ends_with(".py") {
                    names.push(stem.to_string());
                } else {
                    names.push(format!("{stem}.up.sql"));
                    names.push(format!("{stem}.down.sql"));
                }
            }
            let before: Vec<&str> = names.iter().map(String::as_str).collect();
            let new = new_migration(&checked(&before), "next").unwrap();
            let stem = format!("{}_next", new.version_text);
            names.push(format!("{stem}.up.sql"));
            names.push(format!("{stem}.down.sql"));
            let after: Vec<&str> = names.iter().map(String::as_str).collect();
            let widths: Vec<_> = (checked(&after).diagnostics.into_iter())
                .filter(|d| d.code == checker::MIXED_VERSION_WIDTH.code)
                .map(|d| d.path)
                .collect();
            assert!(
                !widths.iter().any(|p| p.to_string_lossy().contains(&stem)),
                "{files:?}: {stem} draws C011: {widths:?}"
            );
        }
    }

    #[test]
    fn templates_carry_no_markers_and_no_sql() {
        let new = new_migration(&checked(&[]), "a").unwrap();
        for text in [&new.up_text, &new.down_text] {
            assert_eq!(markers::parse(text), markers::Markers::default());
            assert!(crate::files::lexer::split(text).statements.is_empty());
            assert_eq!(
                crate::files::checker::NoStatement::of(text),
                Some(crate::files::checker::NoStatement::Comments)
            );
        }
    }
}
