//! The options of the commands that change a database.

use std::borrow::Cow;
use std::time::Duration;

use crate::config::Timeout;
use crate::error::{Error, Result};
use crate::history::Version;

/// Default for how long to wait for the migration lock (the CLI's `--lock-wait`).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(30);

/// The CLI's flags for [`UpOptions::lock_timeout_statement`] and
/// [`UpOptions::statement_timeout`] (and `down`'s, `verify`'s, `drift`'s), which the help of a
/// migration that hit either timeout names: every command that runs migration SQL takes both.
pub const SQL_TIMEOUT_FLAGS: [&str; 2] = ["--lock-timeout-statement", "--statement-timeout"];

/// Options of `migrate up`. `Default` applies every pending migration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpOptions {
    /// Apply at most this many (≥ 1; 0 is a usage error).
    pub steps: Option<u32>,
    /// Apply pending migrations through this version (which must exist), spelt as given:
    /// messages echo it so (`--target 042`).
    pub target: Option<Version>,
    /// Connect and plan, write nothing (no tracking table, no lock); the report carries each
    /// planned migration's SQL.
    pub dry_run: bool,
    /// All pending migrations in one transaction; refused if one is `no-transaction`.
    pub single_transaction: bool,
    /// Apply pending migrations numbered below the newest applied one instead of refusing.
    pub allow_out_of_order: bool,
    /// How long to wait for the migration lock held by another run (exit 6 after).
    pub lock_wait: Duration,
    /// `lock_timeout` for migration SQL; overrides `migration.lock_timeout`.
    pub lock_timeout_statement: Option<Duration>,
    /// `statement_timeout` for migration SQL; overrides `migration.statement_timeout`.
    pub statement_timeout: Option<Duration>,
    /// Create the database when it does not exist. It is connected to first; only a missing
    /// one needs the `postgres` (else `template1`) maintenance database. A dry run connects to
    /// it too (failing where the run would; a fleet target's claim of the missing database is
    /// taken there), says it would create the database and plans on an empty ledger.
    pub create_database: bool,
    /// Apply migrations confiture gates as destructive (`-- confiture:destructive`, written by
    /// its generator on a data-losing change); without it `up` refuses them (exit 5).
    pub allow_destructive: bool,
    /// Accept a database a newer release migrated further (a rolling deploy's older replica):
    /// when the ledger's only divergence is rows above the newest migration this set has,
    /// `up` applies nothing of them and succeeds once every migration it has is applied
    /// (a report warning names them) instead of refusing (exit 7, `newer_database`). A
    /// modified migration, or one missing below the newest it has, is still refused.
    pub allow_newer_database: bool,
    /// Run the migrations on a database that has no ledger but already holds objects where
    /// they build ([`crate::ledger::Unrecorded`]); without it `up` refuses it (exit 7): its
    /// ledger was lost or its schema built by other means, and `migrate baseline` records
    /// what it has. Flyway's `baselineOnMigrate` refusal, without the baseline.
    pub allow_non_empty: bool,
    /// Run again a no-transaction migration an earlier run started and never finished (killed,
    /// disconnected, or failed after a statement committed): `status` shows it `interrupted`,
    /// and without this `up` refuses it (exit 7), nothing run. For a file whose statements are
    /// safe to run twice (`IF NOT EXISTS`), or after undoing what it committed.
    pub rerun_interrupted: bool,
}

setters!(UpOptions {
    steps: Option<u32>,
    dry_run: bool,
    single_transaction: bool,
    allow_out_of_order: bool,
    lock_wait: Duration,
    lock_timeout_statement: Option<Duration>,
    statement_timeout: Option<Duration>,
    create_database: bool,
    allow_destructive: bool,
    allow_newer_database: bool,
    allow_non_empty: bool,
    rerun_interrupted: bool,
});

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            steps: None,
            target: None,
            dry_run: false,
            single_transaction: false,
            allow_out_of_order: false,
            lock_wait: DEFAULT_LOCK_WAIT,
            lock_timeout_statement: None,
            statement_timeout: None,
            create_database: false,
            allow_destructive: false,
            allow_newer_database: false,
            allow_non_empty: false,
            rerun_interrupted: false,
        }
    }
}

/// Options of `migrate down`. `Default` rolls back the newest applied migration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownOptions {
    /// Roll back this many (default 1; 0 is a usage error).
    pub steps: Option<u32>,
    /// Roll back every migration after this version; 0 means all and needs `yes`. Spelt as
    /// given: messages echo it so (`--target 042`).
    pub target: Option<Version>,
    /// Confirm a rollback of every migration (`--target 0` needs it).
    pub yes: bool,
    /// Plan and report, changing nothing.
    pub dry_run: bool,
    /// Roll back a migration whose up file changed since it was applied (refused otherwise,
    /// exit 7): its down file is trusted to undo what was run.
    pub allow_modified: bool,
    /// How long to wait for the migration lock held by another run.
    pub lock_wait: Duration,
    /// `lock_timeout` for each migration's statements (default: the environment's).
    pub lock_timeout_statement: Option<Duration>,
    /// `statement_timeout` for each migration's statements (default: the environment's).
    pub statement_timeout: Option<Duration>,
    /// Roll back again a no-transaction migration whose rollback an earlier run started and
    /// never finished ([`UpOptions::rerun_interrupted`]'s counterpart); refused otherwise
    /// (exit 7).
    pub rerun_interrupted: bool,
}

setters!(DownOptions {
    steps: Option<u32>,
    yes: bool,
    dry_run: bool,
    allow_modified: bool,
    lock_wait: Duration,
    lock_timeout_statement: Option<Duration>,
    statement_timeout: Option<Duration>,
    rerun_interrupted: bool,
});

impl Default for DownOptions {
    fn default() -> Self {
        DownOptions {
            steps: None,
            target: None,
            yes: false,
            dry_run: false,
            allow_modified: false,
            lock_wait: DEFAULT_LOCK_WAIT,
            lock_timeout_statement: None,
            statement_timeout: None,
            rerun_interrupted: false,
        }
    }
}

/// Options of `migrate status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusOptions {
    /// How long the ledger read waits for a lock another session holds on the ledger, then
    /// exit 6 naming it (zero tries once); `None`: the environment's `migration.lock_timeout`,
    /// else 30 s when that is zero.
    pub lock_wait: Option<Duration>,
}

setters!(StatusOptions {
    lock_wait: Option<Duration>,
});

/// Options of `migrate baseline --through VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BaselineOptions {
    /// Record every migration through this version as applied (spelt as given: messages echo
    /// it so).
    pub through: Version,
    /// Confirm recording a migration whose apply was left part-way (`interrupted`), deleting
    /// the start marker of that run (refused otherwise, exit 64:
    /// [`crate::plan::confirm_recording_interrupted`]).
    pub yes: bool,
    /// Plan and report, changing nothing.
    pub dry_run: bool,
    /// How long to wait for the migration lock held by another run.
    pub lock_wait: Duration,
}

setters!(BaselineOptions {
    yes: bool,
    dry_run: bool,
    lock_wait: Duration,
});

impl BaselineOptions {
    /// Options recording every migration through `version`, with the default lock wait.
    pub fn through(version: u64) -> BaselineOptions {
        BaselineOptions::through_version(Version::from(version))
    }

    /// Options recording every migration through `version`, spelt as given (the CLI's
    /// `--through 042`), with the default lock wait.
    pub fn through_version(version: Version) -> BaselineOptions {
        BaselineOptions {
            through: version,
            yes: false,
            dry_run: false,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// Options of `migrate abandon VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AbandonOptions {
    /// The version whose interrupted run to forget (spelt as given: messages echo it so).
    pub version: Version,
    /// Plan and report, changing nothing.
    pub dry_run: bool,
    /// How long to wait for the migration lock held by another run.
    pub lock_wait: Duration,
}

setters!(AbandonOptions {
    dry_run: bool,
    lock_wait: Duration,
});

impl AbandonOptions {
    /// Options forgetting the interrupted run of `version`, spelt as given (the CLI's
    /// `abandon 0042`), with the default lock wait.
    pub fn version(version: Version) -> AbandonOptions {
        AbandonOptions {
            version,
            dry_run: false,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }

    /// Refuses a duration PostgreSQL cannot take ([`check_durations`]).
    pub(crate) fn check_durations(&self) -> Result<()> {
        check_durations("AbandonOptions", &[("lock_wait", Some(self.lock_wait))])
    }
}

/// Options of `migrate reinit [--through VERSION]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReinitOptions {
    /// Also record the files with no row through this version (which must exist) as applied,
    /// without running them, and forget the rows above it (but those above the newest file, a
    /// newer release's, which `reinit` always keeps). Without it, `reinit` only rewrites the
    /// rows the ledger already has. Spelt as given: messages echo it so.
    pub through: Option<Version>,
    /// Confirm a reinit that forgets every row the ledger has but those above the newest file,
    /// or rows above `through` whose files are on disk ([`crate::plan::confirm_reinit`]), or
    /// that records a migration whose apply was left part-way
    /// ([`crate::plan::confirm_recording_interrupted`]); refused otherwise, exit 64.
    pub yes: bool,
    /// Plan and report, changing nothing.
    pub dry_run: bool,
    /// How long to wait for the migration lock held by another run.
    pub lock_wait: Duration,
}

setters!(ReinitOptions {
    yes: bool,
    dry_run: bool,
    lock_wait: Duration,
});

impl Default for ReinitOptions {
    fn default() -> Self {
        ReinitOptions {
            through: None,
            yes: false,
            dry_run: false,
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// The version bounds: given as a number ([`UpOptions::target`] spelt as the number is), or as
/// a [`Version`] that keeps its spelling (the CLI's `--target 042`).
macro_rules! version_setters {
    ($ty:ident { $($field:ident, $with_text:ident);* $(;)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets [`", stringify!($ty), "::", stringify!($field), "`] to a number.")]
                #[must_use]
                pub fn $field(mut self, version: Option<u64>) -> Self {
                    self.$field = version.map(Version::from);
                    self
                }
                #[doc = concat!("Sets [`", stringify!($ty), "::", stringify!($field), "`], spelt as given.")]
                #[must_use]
                pub fn $with_text(mut self, version: Option<Version>) -> Self {
                    self.$field = version;
                    self
                }
            )*
        }
    };
}

version_setters!(UpOptions {
    target,
    target_version
});
version_setters!(DownOptions {
    target,
    target_version
});
version_setters!(ReinitOptions {
    through,
    through_version
});

/// Refuses, as a usage error (exit 64) before anything connects, an option's duration longer
/// than PostgreSQL's timeouts take: [`Timeout::new`], the rule the CLI's duration flags and
/// environment files follow. `lock_wait` becomes the `lock_timeout` of the ledger's reads and
/// writes, the others are `SET` as they are: a longer one failed every migration as a
/// migration's own error ("fix the file", exit 4).
fn check_durations(options: &str, durations: &[(&str, Option<Duration>)]) -> Result<()> {
    for &(name, duration) in durations {
        let Some(duration) = duration else { continue };
        if let Err(error) = Timeout::new(duration) {
            return Err(
                Error::usage(format!("`{options}::{name}` ({duration:?}) {error}")).with_help(
                    format!("{}: `confiture::config::Timeout::MAX`", error.help()),
                ),
            );
        }
    }
    Ok(())
}

impl UpOptions {
    /// Refuses a duration PostgreSQL cannot take ([`check_durations`]).
    pub(crate) fn check_durations(&self) -> Result<()> {
        check_durations(
            "UpOptions",
            &[
                ("lock_wait", Some(self.lock_wait)),
                ("lock_timeout_statement", self.lock_timeout_statement),
                ("statement_timeout", self.statement_timeout),
            ],
        )
    }
}

impl DownOptions {
    /// Refuses a duration PostgreSQL cannot take ([`check_durations`]).
    pub(crate) fn check_durations(&self) -> Result<()> {
        check_durations(
            "DownOptions",
            &[
                ("lock_wait", Some(self.lock_wait)),
                ("lock_timeout_statement", self.lock_timeout_statement),
                ("statement_timeout", self.statement_timeout),
            ],
        )
    }
}

impl BaselineOptions {
    /// Refuses a duration PostgreSQL cannot take ([`check_durations`]).
    pub(crate) fn check_durations(&self) -> Result<()> {
        check_durations("BaselineOptions", &[("lock_wait", Some(self.lock_wait))])
    }
}

impl ReinitOptions {
    /// Refuses a duration PostgreSQL cannot take ([`check_durations`]).
    pub(crate) fn check_durations(&self) -> Result<()> {
        check_durations("ReinitOptions", &[("lock_wait", Some(self.lock_wait))])
    }
}

impl crate::verify::VerifyOptions {
    /// Refuses a duration PostgreSQL cannot take ([`check_durations`]).
    pub(crate) fn check_durations(&self) -> Result<()> {
        check_durations(
            "VerifyOptions",
            &[
                ("lock_timeout_statement", self.lock_timeout_statement),
                ("statement_timeout", self.statement_timeout),
            ],
        )
    }
}

impl crate::drift::DriftOptions {
    /// Refuses a duration PostgreSQL cannot take ([`check_durations`]).
    pub(crate) fn check_durations(&self) -> Result<()> {
        check_durations(
            "DriftOptions",
            &[
                ("lock_timeout_statement", self.lock_timeout_statement),
                ("statement_timeout", self.statement_timeout),
            ],
        )
    }
}

/// The one map of flag to option ([`crate::hint::OPTION_FLAGS`]).
use crate::hint::{FLEET, OPTION_FLAGS as FLAGS, SESSION};

/// `error`'s message, details and help with each flag of [`FLAGS`] that `options` (the
/// command's options type, `UpOptions`) has named as that field instead (`--yes` is
/// `` `DownOptions::yes` ``, `--steps 0` `` `DownOptions::steps` `` = 0): what a library
/// session's caller can change, which has no command line. Suggested commands
/// (`` `cargo confiture ...` ``) keep their flags: they are commands to paste.
pub(crate) fn name_fields(error: &mut Error, options: &str) {
    if let Cow::Owned(message) = library_names(&error.message, options) {
        error.message = message;
    }
    for line in error.help.iter_mut().chain(error.details.iter_mut()) {
        if let Cow::Owned(named) = library_names(line, options) {
            *line = named;
        }
    }
}

/// [`name_fields`] over the error object of a report (`errors[0]` of verify's and drift's,
/// made before the error reached the session's boundary).
pub(crate) fn name_reported_fields(reported: &mut crate::migrate::ReportedError, options: &str) {
    if let Cow::Owned(message) = library_names(&reported.message, options) {
        reported.message = message;
    }
    for line in reported.help.iter_mut().chain(reported.details.iter_mut()) {
        if let Cow::Owned(named) = library_names(line, options) {
            *line = named;
        }
    }
}

/// [`name_fields`] over one text.
pub(crate) fn library_names<'t>(text: &'t str, options: &str) -> Cow<'t, str> {
    if !text.contains("--") {
        return Cow::Borrowed(text);
    }
    let command = format!("`{} ", crate::hint::PROGRAM);
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    let mut changed = false;
    while !rest.is_empty() {
        // A suggested command is copied as it is, up to its closing backtick.
        if rest.starts_with(&command) {
            let end = rest[1..].find('`').map_or(rest.len(), |i| i + 2);
            out.push_str(&rest[..end]);
            rest = &rest[end..];
            continue;
        }
        let at_word = out
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'));
        let flag = at_word
            .then(|| {
                FLAGS.iter().find(|(flag, _, types)| {
                    rest.starts_with(flag)
                        && (types.contains(&options) || types == &[SESSION])
                        && !rest[flag.len()..]
                            .starts_with(|c: char| c.is_alphanumeric() || c == '-')
                })
            })
            .flatten();
        let Some((flag, field, types)) = flag else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        };
        changed = true;
        if let Some((setters, len)) = flag_group(rest, options) {
            // `` `--dry-run --yes` ``: the group's own quotes go; each setter has its own.
            rest = &rest[len..];
            if out.ends_with('`') && rest.starts_with('`') {
                out.pop();
                rest = &rest[1..];
            }
            out.push_str(&setters.join(" with "));
            continue;
        }
        rest = &rest[flag.len()..];
        if *types == [FLEET] {
            // `--jobs 2`: the builder method called with the count; `--jobs` alone, the method.
            let digits = rest
                .strip_prefix(' ')
                .map_or(0, |v| v.chars().take_while(char::is_ascii_digit).count());
            let call = match digits {
                0 => format!("{FLEET}::{field}"),
                n => {
                    let count = &rest[1..1 + n];
                    rest = &rest[1 + n..];
                    format!("{FLEET}::{field}({count})")
                }
            };
            match out.ends_with('`') {
                true => out.push_str(&call),
                false => out.push_str(&format!("`{call}`")),
            }
            continue;
        }
        if *types == [SESSION] {
            // `` `--wait-for-server 60s` ``: the method, called with the value quoted with it.
            let value = rest
                .strip_prefix(' ')
                .filter(|_| out.ends_with('`'))
                .and_then(|v| v.find('`').map(|end| &v[..end]));
            let seconds = value
                .and_then(|v| v.strip_suffix('s'))
                .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if let Some(value) = value {
                rest = &rest[1 + value.len()..];
            }
            let argument = seconds.map_or("Duration".to_string(), |n| {
                format!("Duration::from_secs({n})")
            });
            out.push_str(&format!("{SESSION}::{field}({argument})"));
            continue;
        }
        // `` `--scratch-url URL` ``: the flag with its value's placeholder, quoted together.
        let placeholder = rest.strip_prefix(' ').map_or(0, |v| {
            v.chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .count()
        });
        if out.ends_with('`') && placeholder > 0 && rest[1 + placeholder..].starts_with('`') {
            rest = &rest[1 + placeholder..];
        }
        let quoted = out.ends_with('`') && rest.starts_with('`');
        if quoted {
            out.pop();
            rest = &rest[1..];
        }
        out.push_str(&format!("`{options}::{field}`"));
        // A value that follows (`--steps 0`) is the field's.
        let value_len = rest
            .strip_prefix(' ')
            .map_or(0, |v| v.chars().take_while(char::is_ascii_digit).count());
        if value_len > 0 && !quoted {
            out.push_str(&format!(" = {}", &rest[1..1 + value_len]));
            rest = &rest[1 + value_len..];
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// The option of [`FLAGS`] that `options` has whose flag `text` starts with (a whole flag:
/// `--lock-wait`, not `--lock-waits`), with its flag.
fn option_flag<'f>(text: &str, options: &str) -> Option<(&'f str, &'f str)> {
    FLAGS
        .iter()
        .find(|(flag, _, types)| {
            text.starts_with(flag)
                && types.contains(&options)
                && !text[flag.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '-')
        })
        .map(|(flag, field, _)| (*flag, *field))
}

/// Several flags of `options` one after the other at the start of `text`, each with its
/// number when it has one (`--target 0 --yes`, `--dry-run --yes`): each as the setter a
/// program calls, with its value (`` `DownOptions::target(Some(0))` ``,
/// `` `DownOptions::yes(true)` ``), and the length of `text` they took. `None` for a flag
/// alone, which [`library_names`] names as its field.
fn flag_group(text: &str, options: &str) -> Option<(Vec<String>, usize)> {
    let mut setters = Vec::new();
    let mut end = 0;
    let mut at = 0;
    while let Some((flag, field)) = option_flag(&text[at..], options) {
        let after = at + flag.len();
        let digits = text[after..].strip_prefix(' ').map_or(0, |v| {
            let n = v.chars().take_while(char::is_ascii_digit).count();
            let whole = !v[n..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
            if whole {
                n
            } else {
                0
            }
        });
        let argument = match digits {
            0 => "true".to_string(),
            _ => {
                let value = &text[after + 1..after + 1 + digits];
                // `BaselineOptions::through(version)` is its constructor; the others' numbers
                // are optional (`steps`, `target`, `from`).
                if options == "BaselineOptions" && field == "through" {
                    value.to_string()
                } else {
                    format!("Some({value})")
                }
            }
        };
        setters.push(format!("`{options}::{field}({argument})`"));
        end = after + if digits > 0 { 1 + digits } else { 0 };
        if !text[end..].starts_with(" --") {
            break;
        }
        at = end + 1;
    }
    (setters.len() > 1).then_some((setters, end))
}

#[cfg(test)]
mod tests {
    use super::library_names;
    use crate::hint::{FLEET, OPTION_FLAGS, SESSION};
    use std::path::{Path, PathBuf};

    /// The fields of each command's options type, as its `Debug` names them.
    fn options_fields() -> Vec<(&'static str, Vec<String>)> {
        let through = super::BaselineOptions::through(1).through;
        let debugs = [
            ("UpOptions", format!("{:#?}", super::UpOptions::default())),
            (
                "DownOptions",
                format!("{:#?}", super::DownOptions::default()),
            ),
            (
                "StatusOptions",
                format!("{:#?}", super::StatusOptions::default()),
            ),
            (
                "BaselineOptions",
                format!("{:#?}", super::BaselineOptions::through(1)),
            ),
            (
                "ReinitOptions",
                format!("{:#?}", super::ReinitOptions::default()),
            ),
            (
                "AbandonOptions",
                format!("{:#?}", super::AbandonOptions::version(through)),
            ),
            (
                "VerifyOptions",
                format!("{:#?}", crate::verify::VerifyOptions::default()),
            ),
            (
                "DriftOptions",
                format!("{:#?}", crate::drift::DriftOptions::default()),
            ),
        ];
        debugs
            .into_iter()
            .map(|(name, debug)| {
                let fields = (debug.lines())
                    .filter_map(|line| line.strip_prefix("    "))
                    .filter(|line| !line.starts_with(' '))
                    .filter_map(|line| line.split_once(':'))
                    .map(|(field, _)| field.to_string())
                    .collect();
                (name, fields)
            })
            .collect()
    }

    /// A library caller told `--allow-non-empty` or `--rerun-interrupted` was told a flag it
    /// has no way to give: every field of every command's options type is in the map of flag
    /// to option for that type, so that `name_fields` names it; and every entry of the map
    /// names fields its types have.
    #[test]
    fn every_options_field_is_in_the_map_of_flags() {
        // Given by no flag: `migrate abandon VERSION` takes it as its argument.
        const NO_FLAG: &[(&str, &str)] = &[("AbandonOptions", "version")];
        let all = options_fields();
        let mut missing = Vec::new();
        for (options, fields) in &all {
            assert!(
                !fields.is_empty(),
                "{options}: no field read from its Debug"
            );
            for field in fields {
                let mapped = OPTION_FLAGS
                    .iter()
                    .any(|(_, f, types)| f == field && types.contains(options));
                if !mapped && !NO_FLAG.contains(&(options, field.as_str())) {
                    missing.push(format!("{options}::{field}"));
                }
            }
        }
        assert!(missing.is_empty(), "not in hint::OPTION_FLAGS: {missing:?}");
        for (flag, field, types) in OPTION_FLAGS {
            for options in types.iter().filter(|t| **t != SESSION && **t != FLEET) {
                let has = all
                    .iter()
                    .any(|(name, fields)| name == options && fields.iter().any(|f| f == field));
                assert!(has, "{flag}: {options} has no field {field}");
            }
        }
    }

    /// The flags a text of the library can name that are no command's options field: what
    /// a library caller is told instead is decided elsewhere, or they are other programs'.
    const NOT_OPTIONS: &[(&str, &str)] = &[
        // How the session's database, environment file, tenant and migrations are chosen:
        // the `Migrator`'s constructors (`config::Labels`, `files::DirNamedBy`).
        ("--env", "selection"),
        ("--config", "selection"),
        ("--database-url", "selection"),
        ("--schema", "selection"),
        ("--migrations-dir", "selection"),
        // A fleet's, the command line's list of targets.
        ("--targets", "fleet"),
        ("--schemas-query", "fleet"),
        // confiture (Python)'s commands.
        ("--online", "confiture (Python)"),
        ("--resume", "confiture (Python)"),
        // `createdb`'s and git's.
        ("--maintenance-db", "createdb"),
        ("--diff-filter", "git"),
        ("--name-only", "git"),
    ];

    /// The library's source files, without the modules compiled for its tests alone.
    fn library_sources() -> Vec<(PathBuf, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    files.push((path, text));
                }
            }
        }
        // `#[cfg(test)] mod tests;`: that module's file and directory.
        let mut test_only = Vec::new();
        for (path, text) in &files {
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            for pair in lines.windows(2) {
                let module = pair[1]
                    .strip_prefix("mod ")
                    .and_then(|m| m.strip_suffix(';'));
                if let (true, Some(module)) = (pair[0] == "#[cfg(test)]", module) {
                    let dir = match path.file_name().is_some_and(|n| n == "mod.rs") {
                        true => path.parent().unwrap().to_path_buf(),
                        false => path.with_extension(""),
                    };
                    test_only.push(dir.join(module));
                }
            }
        }
        files.retain(|(path, _)| {
            !test_only
                .iter()
                .any(|m| path.starts_with(m) || *path == m.with_extension("rs"))
        });
        files
    }

    /// Every `--flag` the library's texts can name (written in its sources, outside comments
    /// and test modules) is a command's option in the map of flags, which `name_fields`
    /// words for a library caller, or one [`NOT_OPTIONS`] accounts for: a flag added to a help
    /// is never told to a library caller as it is.
    #[test]
    fn every_flag_a_library_text_names_is_in_the_map_of_flags() {
        let mut unmapped = Vec::new();
        for (path, text) in library_sources() {
            let lines: Vec<&str> = text.lines().collect();
            for (n, line) in lines.iter().enumerate() {
                let next = lines.get(n + 1).map_or("", |l| l.trim());
                if line.trim() == "#[cfg(test)]" && next.starts_with("mod ") && next.ends_with('{')
                {
                    break;
                }
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let mut rest = *line;
                while let Some(at) = rest.find("--") {
                    let before = rest[..at].chars().last();
                    let flag: String = rest[at + 2..]
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                        .collect();
                    let flag = format!("--{}", flag.trim_end_matches('-'));
                    rest = &rest[at + 2..];
                    if flag.len() < 4
                        || before.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
                    {
                        continue;
                    }
                    let known = OPTION_FLAGS.iter().any(|(f, _, _)| *f == flag)
                        || NOT_OPTIONS.iter().any(|(f, _)| *f == flag);
                    if !known {
                        unmapped.push(format!("{flag} ({}:{})", path.display(), n + 1));
                    }
                }
            }
        }
        assert!(
            unmapped.is_empty(),
            "flags in the library's texts that neither hint::OPTION_FLAGS nor NOT_OPTIONS has: \
             {unmapped:?}"
        );
    }

    /// Flags named together (`--target 0 --yes`) are each the setter a program calls with its
    /// value, joined by "with": never `` `DownOptions::target` = 0 `DownOptions::yes` ``; the
    /// quotes around the group go, and a flag alone keeps its field's name.
    #[test]
    fn flags_named_together_become_the_setters_a_program_calls() {
        assert_eq!(
            library_names(
                "pass --steps 1 or more (the default is 1); to roll back everything use \
                 --target 0 --yes",
                "DownOptions"
            ),
            "pass `DownOptions::steps` = 1 or more (the default is 1); to roll back everything \
             use `DownOptions::target(Some(0))` with `DownOptions::yes(true)`"
        );
        assert_eq!(
            library_names(
                "add --yes to record it (`--dry-run --yes` shows the whole plan first)",
                "ReinitOptions"
            ),
            "add `ReinitOptions::yes` to record it (`ReinitOptions::dry_run(true)` with \
             `ReinitOptions::yes(true)` shows the whole plan first)"
        );
        assert_eq!(
            library_names("the same plan as --target 0 --yes, which", "DownOptions"),
            "the same plan as `DownOptions::target(Some(0))` with `DownOptions::yes(true)`, which"
        );
        // A flag the options lack ends the group; a suggested command keeps its flags.
        assert_eq!(
            library_names("use --steps 2 --allow-modified", "UpOptions"),
            "use `UpOptions::steps` = 2 --allow-modified"
        );
        let command = "`cargo confiture migrate down --target 0 --yes`";
        assert_eq!(library_names(command, "DownOptions"), command);
    }

    #[test]
    fn flags_become_the_options_fields_outside_suggested_commands() {
        assert_eq!(
            library_names("add --yes to confirm", "DownOptions"),
            "add `DownOptions::yes` to confirm"
        );
        assert_eq!(
            library_names("--steps 0 would roll back nothing", "DownOptions"),
            "`DownOptions::steps` = 0 would roll back nothing"
        );
        assert_eq!(
            library_names(
                "or run with `--allow-out-of-order` to apply them",
                "UpOptions"
            ),
            "or run with `UpOptions::allow_out_of_order` to apply them"
        );
        assert_eq!(
            library_names("raise --lock-wait; or `--lock-waits`", "ReinitOptions"),
            "raise `ReinitOptions::lock_wait`; or `--lock-waits`"
        );
        // A flag quoted with its value's placeholder is the field.
        assert_eq!(
            library_names("give `--scratch-url URL` naming a server", "DriftOptions"),
            "give `DriftOptions::scratch` naming a server"
        );
        assert_eq!(
            library_names("--from 7: no migration has version 7", "VerifyOptions"),
            "`VerifyOptions::from` = 7: no migration has version 7"
        );
        assert_eq!(
            library_names(
                "the objects of another application: `--allow-non-empty` runs over them",
                "UpOptions"
            ),
            "the objects of another application: `UpOptions::allow_non_empty` runs over them"
        );
        for options in ["UpOptions", "DownOptions"] {
            assert_eq!(
                library_names(
                    "the run that this one runs again (`--rerun-interrupted`)",
                    options
                ),
                format!("the run that this one runs again (`{options}::rerun_interrupted`)")
            );
        }
        // A setting of the session is its builder method, whatever the command.
        assert_eq!(
            library_names(
                "wait for it: `--wait-for-server 60s`, or ...",
                "StatusOptions"
            ),
            "wait for it: `Migrator::wait_for_server(Duration::from_secs(60))`, or ..."
        );
        // A suggested command keeps its flags; a flag another command's options lack stays.
        let text = "run `cargo confiture migrate down --target 0 --yes -c f` or --allow-modified";
        assert_eq!(library_names(text, "UpOptions"), text);
        assert_eq!(
            library_names(text, "DownOptions"),
            "run `cargo confiture migrate down --target 0 --yes -c f` or \
             `DownOptions::allow_modified`"
        );
    }
}
