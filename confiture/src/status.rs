//! The status of each migration, decided from the files and the ledger rows. Pure.
//!
//! Every migration (a file pair, a ledger row, or both) is in exactly one [`State`], decided by
//! [`crate::history`] — the rule `up`, `down`, `baseline` and `reinit` follow too:
//!
//! - `applied`: recorded in the ledger, and the up file's SHA-256 matches the recorded checksum
//!   (a row recorded without a checksum counts as applied);
//! - `modified`: recorded, but the up file changed since;
//! - `missing`: recorded, but no file has its version;
//! - `squashed`: recorded below `first_version`, whose files were removed on purpose;
//! - `duplicate`: a second row for a version another row records;
//! - `renumbered`: recorded under a version its files no longer have (the same up file, with
//!   the same name or, the only file of that checksum, renamed too; another version now);
//! - `replaced`: recorded, but its files are gone and its version now names another migration
//!   (another name and another up file), which never ran;
//! - `ambiguous`: recorded, but nothing tells which file it records: its row has no checksum
//!   and the file of its version another name (renamed, or another migration), or a file of
//!   another version has its name without its checksum (renumbered and edited, or a new
//!   migration reusing the name); exit 7, and every command that writes refuses it;
//! - `unreadable`: its files are on disk but cannot be read as text (permissions, a directory
//!   or a FIFO in a file's place, a broken symbolic link, not UTF-8), recorded or not — never
//!   `missing`: nothing is gone. Each line names the files and why (`unreadable_files`);
//!   exit 5, as for the other file errors;
//! - a recorded migration of which half a pair is on disk (its down file or its up file
//!   removed), or whose files are misnamed, is not `missing` either: it is `applied` (`modified` when the up file there
//!   changed) and `invalid`, listed in `incomplete`; exit 5;
//! - `python`: a confiture (Python) migration, `<VERSION>_<NAME>.py`, that cargo confiture
//!   cannot run: applied when a row records it (never `missing`), else pending;
//! - `pending`: not recorded, and newer than every recorded version;
//! - `out_of_order`: not recorded, but older than the newest recorded version (typically a
//!   branch merged late). It still has to be applied, so it counts as pending too.
//!
//! The seed's lists and counts follow one rule: `applied` is every migration recorded in the
//! ledger, each once ([`State::is_applied_migration`]: a second row for a version is not a
//! second migration), `pending` everything not recorded (pending, out_of_order, unreadable
//! without a row), so
//! `summary.applied + summary.pending == summary.total`. A second row is a line of
//! `migrations` and is counted and listed in `duplicate`, the divergence it is. The extra lists
//! (`modified`, `missing`, `out_of_order`, `squashed`, `duplicate`, `renumbered`, `replaced`,
//! `ambiguous`,
//! `unreadable`, `incomplete`) name the ones that need attention or explanation.
//!
//! Problems in the files do not hide the database: the report carries the directory's
//! diagnostics, each migration whose files have an error is marked `invalid`, and the exit code
//! is 5 (what `up` would answer before running anything).

use std::collections::HashSet;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::error::Divergence;
use crate::exit;
use crate::files::{MigrationSet, UnreadableFile};
pub use crate::history::State;
use crate::history::{FileErrors, History};
use crate::ledger::Ledger;

/// One line of the status table / one object of `migrations[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MigrationStatus {
    /// As in the file name (`"003"`), or as recorded for a missing migration.
    pub version: String,
    /// `version` as the history parsed it ([`crate::history::Version::number`]); `None` for
    /// a row whose version is not a number. Not a JSON key: `version` is.
    #[serde(skip)]
    pub number: Option<u64>,
    /// As in the file name, or as recorded for a missing migration.
    pub name: String,
    /// Applied, pending, modified, missing...
    pub status: State,
    /// When it was applied, RFC 3339 in UTC (`2026-01-15T10:30:00+00:00`); null if not recorded.
    pub applied_at: Option<String>,
    /// SHA-256 of the up file; null when the file is missing.
    pub checksum: Option<String>,
    /// The checksum the ledger recorded; null when not recorded, or recorded without one.
    pub recorded_checksum: Option<String>,
    /// Its files have an error (listed in the report's `diagnostics`): `up` refuses to run it,
    /// `down` to roll it back (unless the error is a gap in the versions before it, C004,
    /// which `down` only warns about).
    pub invalid: bool,
    /// For an `unreadable` migration, its files that cannot be read, each with `path` and
    /// `error` (the system's reason); empty otherwise.
    pub unreadable_files: Vec<UnreadableFile>,
    /// For an `interrupted` migration, the start marker the run left
    /// ([`crate::ledger::StartedRun`]: `direction`, `started_at`, `started_by`, `client_addr`,
    /// `statement` — the one sent last, those before it committed —, `statements`,
    /// `checksum`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<crate::ledger::StartedRun>,
    /// For an `interrupted` migration these files do not know (its line named by its marker,
    /// [`StatusReport::interrupted_unknown`]), why: no file here has its version, or the file
    /// of its version is another migration (its id) — [`crate::history::NotHere`]'s words. Not
    /// a JSON key.
    #[serde(skip)]
    pub not_here: Option<String>,
    /// For a renumbered migration whose rollback was left part-way (`interrupted`,
    /// [`crate::history::History::interrupted_renumbered`]), the version its ledger row has,
    /// which its files had when the rollback started (as the marker's `version` says in the
    /// JSON); it is listed in `renumbered` too. Not a JSON key.
    #[serde(skip)]
    pub renumbered_from: Option<String>,
    /// For an `interrupted` apply, the index (`schema.name`) its interrupted build left INVALID
    /// in the database, which the file would build again: it cannot be recorded as applied
    /// (`baseline --through` refuses it), and the help says to drop it and run the migration
    /// again. For a pending no-transaction migration, the INVALID index a failed or
    /// interrupted build left that it would meet at its start (its `CREATE INDEX CONCURRENTLY`
    /// builds it again; its `REINDEX INDEX CONCURRENTLY` left it, `<index>_ccnew`): `migrate
    /// up` refuses to run it (exit 4) until it is dropped, and the help says so. Absent
    /// otherwise (and when the database was not read for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_index: Option<String>,
    /// For an `interrupted` apply whose `REINDEX ... CONCURRENTLY` left copies of the indexes
    /// it rebuilt (`_ccnew`, `_ccold`), INVALID: every copy (`schema.name`, quoted as needed;
    /// `invalid_index` is the first). The rebuilt indexes are whole: the help drops every copy
    /// rather than rebuilding one. Absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rebuild_copies: Vec<String>,
    /// For an `interrupted` run (an apply or a rollback), the partition the `ALTER TABLE ...
    /// DETACH PARTITION ... CONCURRENTLY` it was running left pending detach (`table`,
    /// `partition`, and the `finalize` statement that finishes it): running it again fails,
    /// and the help says to finish the detach. Absent otherwise (and when the database was not
    /// read for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_detach: Option<crate::plan::PendingDetach>,
    /// For an `interrupted` run (an apply or a rollback) whose `DROP INDEX CONCURRENTLY`, the
    /// statement it was running, was cut part-way (failed, cancelled, its client killed): the
    /// index (`schema.name`) it left INVALID — it still exists, and queries no longer use it.
    /// The help says to run the migration again on purpose, which finishes the drop, or to
    /// rebuild the index (`REINDEX INDEX CONCURRENTLY`) and forget the run. Absent otherwise
    /// (and when the database was not read for it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unfinished_drop: Option<String>,
    /// For an `interrupted` apply of a pair that shares its version with the version's
    /// migration here (C003, [`crate::history::Unknown::pair`]), that other pair (its id): the
    /// line and its help name both ([`crate::plan::interrupted_shared_version`]). Not a JSON key.
    #[serde(skip)]
    pub shares_version_with: Option<String>,
    /// For an applied (or modified) no-transaction migration, the start marker of an apply
    /// that a row recorded over since ([`History::recorded_over`]): the line is `interrupted`
    /// only if what that apply left keeps it so (its index INVALID still, a partition pending
    /// detach still: `Migrator::status` reads it and sets `invalid_index` or `pending_detach`),
    /// else it is stale. Not a JSON key.
    #[serde(skip)]
    pub recorded_over: Option<crate::ledger::StartedRun>,
    /// For an `interrupted` rollback, the migrations (their ids) the ledger records above it
    /// since ([`crate::plan::recorded_above_rollback`]): `down` rolls them back first, and
    /// refuses; the help names them ([`crate::plan::rollback_under_rows_ways_on`]). Empty
    /// otherwise. Not a JSON key.
    #[serde(skip)]
    pub recorded_above: Vec<String>,
    /// For an `interrupted` apply, the statements of its up file its run committed for sure
    /// (`file:line` and their first words, [`crate::plan::committed_statements_of`]): running
    /// it again runs them again, which its help says where it suggests running it again.
    /// Empty otherwise. Not a JSON key.
    #[serde(skip)]
    pub committed_again: Vec<String>,
}

impl MigrationStatus {
    /// `001_add_bio_to_users`, as the status table shows it ([`crate::display::migration_id`]).
    pub fn id(&self) -> String {
        crate::display::migration_id(&self.version, &self.name)
    }

    /// Names `copies`, what its interrupted `REINDEX ... CONCURRENTLY` left
    /// ([`MigrationStatus::rebuild_copies`]), the first as its `invalid_index`.
    #[cfg(feature = "db")]
    pub(crate) fn set_rebuild_copies(&mut self, copies: Vec<String>) {
        self.invalid_index = copies.first().cloned();
        self.rebuild_copies = copies;
    }

    /// What its interrupted run left in the database, as read (`unfinished_drop`,
    /// `invalid_index`, `pending_detach`): what its help's ways on name
    /// ([`crate::plan::interrupted_ways_on`]).
    fn left_behind(&self) -> Option<crate::plan::LeftBehind> {
        use crate::plan::LeftBehind;
        if !self.rebuild_copies.is_empty() {
            return Some(LeftBehind::RebuildCopies(self.rebuild_copies.clone()));
        }
        (self.unfinished_drop.clone().map(LeftBehind::UnfinishedDrop))
            .or_else(|| self.invalid_index.clone().map(LeftBehind::InvalidIndex))
            .or_else(|| (self.pending_detach.clone()).map(LeftBehind::PendingDetach))
    }
}

/// Counts. `applied + pending == total`, each migration once; `modified`, `missing` and
/// `squashed` are among `applied`, `out_of_order` among `pending`; `duplicate` counts second
/// rows, which are in neither (their migration is counted once, by the row it matched); `invalid` counts migrations marked invalid,
/// `errors` the error diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Migrations recorded in the ledger, each once.
    pub applied: usize,
    /// Migrations not recorded.
    pub pending: usize,
    /// Every migration, files and rows together, each once (`applied + pending`).
    pub total: usize,
    /// Applied migrations whose up file changed since.
    pub modified: usize,
    /// Applied migrations whose files are gone.
    pub missing: usize,
    /// Pending migrations older than the newest applied one.
    pub out_of_order: usize,
    /// Rows below `first_version` (a squashed history).
    pub squashed: usize,
    /// Second rows for a version.
    pub duplicate: usize,
    /// Applied migrations whose files now have another number.
    pub renumbered: usize,
    /// Applied migrations whose files are gone, their version now another migration's.
    pub replaced: usize,
    /// Rows that nothing ties to one file: recorded, neither applied nor missing.
    pub ambiguous: usize,
    /// Applied migrations whose row spells the version unlike the file (`01` for `001`).
    pub respelled: usize,
    /// Migrations whose files are there but cannot be read, applied or pending.
    pub unreadable: usize,
    /// Applied migrations of which half a pair of files is on disk.
    pub incomplete: usize,
    /// Applied migrations whose row records no checksum (NULL or empty): their files cannot
    /// be checked for edits.
    pub unverified: usize,
    /// No-transaction migrations a run started and never finished (`interrupted`), among
    /// `pending` (its apply was interrupted) or `applied` (its rollback was).
    pub interrupted: usize,
    /// Migrations whose files have an error.
    pub invalid: usize,
    /// Error diagnostics of the directory.
    pub errors: usize,
}

/// What `migrate status` reports. Field names are the JSON keys: the seed's first
/// (`tracking_table`, `applied`, `pending`, `migrations`, `summary`), then ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusReport {
    /// Schema-qualified (`public.tb_confiture`), also when the table does not exist yet.
    pub tracking_table: String,
    /// Versions recorded in the ledger, each migration once (a second row is in `duplicate`),
    /// in version order.
    pub applied: Vec<String>,
    /// Versions not recorded (out-of-order ones included), in version order.
    pub pending: Vec<String>,
    /// Every migration, files and ledger rows together, in version order.
    pub migrations: Vec<MigrationStatus>,
    /// The counts.
    pub summary: Summary,
    /// `user@host:port/db`, never with the password; null when not known (pure use).
    pub database: Option<String>,
    /// Whether the tracking table exists. When it does not, every migration is pending and
    /// `migrate status` exits 2 ([`crate::exit::NOT_INITIALISED`]), not 1.
    pub initialised: bool,
    /// The tracking table does not exist, and its name is unqualified while the session's
    /// The tracking table does not exist and this session may not create it (no schema on
    /// its `search_path`, or no privilege to create it there): `migrate up` could not. What to
    /// do (the help `up` gives when it fails to create it). Not a JSON key.
    #[serde(skip)]
    pub cannot_create_ledger: Option<String>,
    /// The connection named no database, and this is the one its name defaulted to
    /// ([`crate::config::Environment::refuse_unnamed_database`], which every writing command
    /// refuses with): what to do instead of running `migrate up` there. Not a JSON key.
    #[serde(skip)]
    pub database_not_named: Option<String>,
    /// The tenant schema (`--schema NAME`) does not exist: `migrate up` would create it, and
    /// `similar` is the tenant a misspelt name meant. Not a JSON key.
    #[serde(skip)]
    pub new_schema: Option<crate::ledger::NewTenantSchema>,
    /// The tracking table does not exist or has no rows, and the database already holds
    /// objects where the migrations build ([`crate::ledger::Unrecorded`]: `objects`, a few of
    /// them, `count`, `ledger_empty`): `migrate up` refuses it. Null otherwise.
    pub unrecorded: Option<crate::ledger::Unrecorded>,
    /// Versions applied whose up file changed since.
    pub modified: Vec<String>,
    /// Those of `modified` whose up file differs from what ran only by its line endings, or by
    /// a UTF-8 byte-order mark removed or added (and its line endings)
    /// ([`crate::history::differs_only_by_line_endings`]): a checkout or an editor converted
    /// them.
    pub modified_line_endings: Vec<String>,
    /// Those of `modified_line_endings` that ran with CRLF (or lone CR) line endings and whose
    /// file has LF ([`crate::history::LineEndingChange::ToLf`], `ToLfFromCr`): a new checkout
    /// changes nothing, `reinit` records the file.
    pub modified_applied_crlf: Vec<String>,
    /// Those of `modified_line_endings` that ran with a UTF-8 byte-order mark the file no
    /// longer has, its line endings converted to LF too or not
    /// ([`crate::history::LineEndingChange::BomRemoved`]): `reinit` records the file, as for
    /// `modified_applied_crlf` (together, those whose file now has the bytes to keep:
    /// [`crate::history::LineEndingChange::file_has_lf`]). The others of
    /// `modified_line_endings` ran with LF (or without a mark), and this checkout (or an
    /// editor) converted them to CRLF (or lone CRs, or added a mark).
    pub modified_bom_removed: Vec<String>,
    /// Each of `modified_line_endings` with the way its line endings changed
    /// ([`crate::history::line_endings_change`]): what [`StatusReport::line_ending_change`]
    /// answers. Not a JSON key (`modified_applied_crlf` and `modified_bom_removed` say it
    /// there).
    #[serde(skip)]
    line_ending_changes: Vec<(String, crate::history::LineEndingChange)>,
    /// Versions recorded whose files are gone (a newer release's among them: see
    /// `newer_database`).
    pub missing: Vec<String>,
    /// The set is older than the database: the rows above its newest migration, recorded by a
    /// newer release ([`crate::plan::newer_database_of`], the rule of `up`'s refusal); `None`
    /// when there is none. Their help is `up`'s ([`crate::plan::newer_database_help`]), never
    /// `reinit`, which would forget rows the newer release needs. Not a JSON key.
    #[serde(skip)]
    pub newer_database: Option<crate::error::NewerDatabase>,
    /// Rows that another workspace member's files record, that member resolving to the same
    /// database and tracking table ([`crate::plan::of_another_member`]): its rows, not this
    /// member's migrations edited. Their help is [`crate::plan::another_members_help`], never
    /// `reinit`. Null unless the session was given such members
    /// ([`crate::Migrator::sharing_ledger_with`]).
    pub another_members_rows: Option<crate::plan::AnotherMembersRows>,
    /// Whether `newer_database`'s rows are the only divergence, which `up` then accepts with
    /// `allow_newer_database` ([`crate::plan::newer_database_alone`]): the status help names
    /// that option only then. Not a JSON key.
    #[serde(skip)]
    pub newer_database_alone: bool,
    /// Versions pending below the newest applied one.
    pub out_of_order: Vec<String>,
    /// Rows below `first_version`: a squashed history, not a problem.
    pub squashed: Vec<String>,
    /// Second rows for a version (their own `version` text).
    pub duplicate: Vec<String>,
    /// Applied migrations whose files now have another number (the files' version).
    pub renumbered: Vec<String>,
    /// Applied migrations whose files are gone, their version now another migration's (the
    /// rows' version).
    pub replaced: Vec<String>,
    /// Rows that nothing ties to one file (the rows' version): no checksum and the file of
    /// their version has another name, or a file of another version has their name without
    /// their checksum. Every command that writes refuses them.
    pub ambiguous: Vec<String>,
    /// Applied migrations whose ledger row spells the version unlike their file (`01` for
    /// `001`; the files' version): one migration for us, which compares numbers, but pending
    /// for confiture (Python), which compares the text and would run it again. `migrate
    /// reinit` rewrites the rows' spelling.
    pub respelled: Vec<String>,
    /// Migrations whose files are there but cannot be read, applied or pending (each line of
    /// `migrations` names the files and why).
    pub unreadable: Vec<String>,
    /// Applied migrations of which half a pair of files is on disk, the other half gone, or
    /// whose files are misnamed (each is `applied` or `modified`, and `invalid`): restore the
    /// missing file, rename the misnamed ones.
    pub incomplete: Vec<String>,
    /// Those of `incomplete` whose files are both there, only misnamed
    /// ([`crate::plan::IncompletePair::Misnamed`]): nothing to restore, each to rename as its
    /// `C006` says.
    pub misnamed: Vec<String>,
    /// Those of `misnamed` whose rename spells the version otherwise (`1_m1` to `001_m1`):
    /// `migrate reinit` follows the rename.
    pub misnamed_respelled: Vec<String>,
    /// Applied migrations whose row records no checksum (NULL or empty, written by hand or an
    /// older tool): an edit of their files cannot be seen (confiture's `verify-checksums`
    /// reports them as mismatches); `migrate reinit` records the files' checksums.
    pub unverified: Vec<String>,
    /// No-transaction migrations a run started and never finished (killed, disconnected, or
    /// stopped after a statement committed): part of them may have committed, unrecorded.
    /// Each line of `migrations` carries its marker (`started`). `up` (`down`) refuses them
    /// (exit 7) until the schema is checked, and so does a run the other way over one (`down`
    /// under a half-run apply, `up` under a half-run rollback: [`crate::plan::check_interrupted`]):
    /// `migrate baseline --through V` records one whose statements all committed,
    /// `--rerun-interrupted` runs one again.
    pub interrupted: Vec<String>,
    /// Those of `interrupted` that these files do not know (the markers' version): no file
    /// here has their version, or its file is another migration (another branch's) — a newer
    /// build's migration left part-way, or one whose files were removed since
    /// ([`History::interrupted_unknown`]). Their lines carry the marker's version and name,
    /// and no checksum. This checkout can neither run them again nor record them: `up` and
    /// `down` refuse to run over them (exit 7), as over a row with no file.
    pub interrupted_unknown: Vec<String>,
    /// A run holds the migration lock now (its holder, as the server shows it: `pid 4242,
    /// application_name "cargo-confiture", user app`): the migrations whose start markers are
    /// there are the ones it is running, not `interrupted`; their lines carry the marker
    /// (`started`) and keep the state their files and rows give. Null otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<String>,
    /// A prepared transaction holds the migration lock now (looked for as `running` is): no
    /// run can take the lock, however long it waits, until it is committed or rolled back —
    /// and none is going on, so the start markers there are `interrupted`. Null otherwise.
    #[cfg(feature = "db")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_held_by_prepared: Option<crate::db::lock::PreparedTransaction>,
    /// A session holds the migration lock now (looked for with the ledger's rows, without
    /// waiting): a run going on — ours, confiture (Python)'s, a service's, or a session of a
    /// killed CLI a pooler keeps alive — which may be applying the `pending` migrations as
    /// this report is read; an object with the fields of a lock error's holding session
    /// (`pid`, `application_name`, `user`, `client_addr`, `backend_start`, `state`,
    /// `state_change`), the session the lock errors of exit 6 name. Null otherwise.
    /// [`StatusReport::lock_held_help`] says it.
    #[cfg(feature = "db")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_held_by: Option<crate::db::lock::HoldingSession>,
    /// The migrations directory's problems, errors and warnings, in path order.
    pub diagnostics: Vec<Diagnostic>,
    /// What to do about `renumbered` migrations ([`crate::plan::renumbered_help`], the text
    /// `up` and `down` give); `None` when there is none. Not a JSON key.
    #[serde(skip)]
    pub renumbered_help: Option<String>,
    /// Whether a `missing` migration left a gap in the files ([`crate::plan::missing_leaves_gap`]):
    /// forgetting its row does not unblock `up`, keeping its pair with `SELECT 1;` does. Not a
    /// JSON key.
    #[serde(skip)]
    pub missing_leaves_gap: bool,
    /// What to do about `ambiguous` rows ([`crate::plan::ambiguous_help`]); `None` when there
    /// is none. Not a JSON key.
    #[serde(skip)]
    pub ambiguous_help: Option<String>,
    /// What to do about `out_of_order` migrations ([`crate::plan::out_of_order_help`]: the
    /// baseline it suggests takes `--yes` when it would record over a run left part-way);
    /// `None` when there is none. Not a JSON key.
    #[serde(skip)]
    pub out_of_order_help: Option<String>,
    /// How the history differs from the files, as `up` refuses it
    /// ([`crate::plan::divergences`]): what `drift` refuses with. Not a JSON key: `migrations`
    /// shows each state.
    #[serde(skip)]
    pub diverged: Vec<Divergence>,
}

/// What a no-transaction run left part-way (`started`, of line `m`) leaves of what it
/// committed, as the interrupted help says it: an apply's statements stay with no ledger row;
/// a rollback's stay while the row, there still, records the migration applied (its down file
/// ran part-way).
fn committed_stays(m: &MigrationStatus, started: &crate::ledger::StartedRun) -> &'static str {
    match (started.direction.as_str(), m.status.is_recorded()) {
        ("down", true) => {
            "what its down file committed stays, and its row still records it applied"
        }
        ("down", false) => "what its down file committed stays",
        _ => "what committed stays, unrecorded",
    }
}

/// What a run going on is doing, as `status` says it: `: 002_t is being run now by it` when
/// `being_run` names the migrations whose start markers are its own, else `: the pending
/// migration may be being applied now` when some (`pending`) are pending; else nothing.
pub(crate) fn run_doing(being_run: &[String], pending: usize) -> String {
    match (being_run.len(), pending) {
        (0, 0) => String::new(),
        (0, 1) => ": the pending migration may be being applied now".to_string(),
        (0, _) => ": the pending migrations may be being applied now".to_string(),
        (1, _) => format!(": {} is being run now by it", being_run[0]),
        _ => format!(": {} are being run now by it", being_run.join(", ")),
    }
}

impl StatusReport {
    /// How the up file of the modified migration `version` differs from what ran only by its
    /// line endings ([`crate::history::line_endings_change`]); `None`: it was edited (or is
    /// not modified).
    pub fn line_ending_change(&self, version: &str) -> Option<crate::history::LineEndingChange> {
        (self.line_ending_changes.iter())
            .find(|(v, _)| v == version)
            .map(|(_, change)| *change)
    }

    /// The exit code for `migrate status`: 5 when the files have errors or some cannot be read
    /// (`up` would refuse them before anything else); else 2 when the tracking table does not
    /// exist; else 7 when a
    /// migration is modified, missing, renumbered, replaced, ambiguous, out of order or recorded twice (it wins over
    /// pending), or interrupted (a no-transaction migration a run started and never finished);
    /// else 1 when some are pending; else 0.
    pub fn exit_code(&self) -> u8 {
        if self.summary.errors > 0 || self.summary.unreadable > 0 || self.summary.incomplete > 0 {
            exit::INVALID
        } else if !self.initialised {
            exit::NOT_INITIALISED
        } else if self.summary.modified
            + self.summary.missing
            + self.summary.out_of_order
            + self.summary.duplicate
            + self.summary.renumbered
            + self.summary.replaced
            + self.summary.ambiguous
            + self.summary.interrupted
            > 0
        {
            exit::DIVERGED
        } else if self.summary.pending > 0 {
            exit::PENDING
        } else {
            exit::SUCCESS
        }
    }

    /// What is known of the run a line's start marker (`started`) records, as `status` says
    /// it: who started it and when, and how far it got — a live run's (`running`: it holds the
    /// migration lock) statement is running ([`StartedRun::running`]), a gone run's may
    /// have committed ([`StartedRun::committed`]).
    ///
    /// [`StartedRun::running`]: crate::ledger::StartedRun::running
    /// [`StartedRun::committed`]: crate::ledger::StartedRun::committed
    pub fn marker_progress(&self, started: &crate::ledger::StartedRun) -> String {
        let so_far = match self.running {
            Some(_) => started.running(),
            None => started.committed(),
        };
        format!("{}; {so_far}", crate::display::escape(&started.started()))
    }

    /// [`StatusReport::marker_progress`] of line `m`'s start marker (`started`), and what the
    /// statement the server refused left all the same, when the run left something
    /// ([`crate::plan::LeftBehind::committed_first`]: a cancelled `CREATE INDEX CONCURRENTLY`
    /// leaves its index, INVALID): never "nothing of it committed" alone then.
    pub fn marker_progress_of(
        &self,
        m: &MigrationStatus,
        started: &crate::ledger::StartedRun,
    ) -> String {
        let progress = self.marker_progress(started);
        match m
            .left_behind()
            .filter(|_| started.failed && self.running.is_none())
        {
            Some(left) => format!("{progress}; all the same, {}", left.committed_first()),
            None => progress,
        }
    }

    /// What `status` says of another session's run, in one line: **the** owner of that fact,
    /// which a session holding the migration lock now is ([`StatusReport::lock_held_by`],
    /// else [`StatusReport::running`]'s holder). A run is going on: the migrations whose start
    /// markers are its own ([`StatusReport::running`]) are named as being run by it, else the
    /// pending migrations may be being applied by it as the report is read. `None` when no
    /// session holds it.
    pub fn lock_held_help(&self) -> Option<String> {
        #[cfg(feature = "db")]
        let session = self.lock_held_by.as_ref().map(ToString::to_string);
        #[cfg(not(feature = "db"))]
        let session = None;
        let holder = session.or_else(|| self.running.clone())?;
        let doing = self.run_going_on_doing();
        Some(format!(
            "note: a run holds the migration lock ({}){doing}; this status is of the moment \
             it was read: run {} again once that run ends",
            crate::display::escape(&holder),
            crate::hint::command("migrate status")
        ))
    }

    /// What the run holding the migration lock is doing, as [`StatusReport::lock_held_help`]
    /// says it ([`run_doing`]): the migrations whose start markers are its own
    /// ([`StatusReport::running`]), else the pending ones it may be applying.
    pub(crate) fn run_going_on_doing(&self) -> String {
        let being_run: Vec<String> = (self.migrations.iter())
            .filter(|m| self.running.is_some() && m.started.is_some())
            .map(|m| crate::display::escape(&m.id()).into_owned())
            .collect();
        run_doing(&being_run, self.summary.pending)
    }

    /// What to do about the `interrupted` migrations, one line each (none when there is
    /// none): what is known is in the table and the JSON (`started`); the ways on are the
    /// ones `up` and `down` refuse such a migration with. None while a run going on holds the
    /// markers: [`StatusReport::lock_held_help`] names what it is running.
    pub fn interrupted_help(&self) -> Vec<String> {
        if self.running.is_some() {
            return Vec::new();
        }
        self.migrations
            .iter()
            .filter_map(|m| Some((m, m.started.as_ref()?)))
            .map(|(m, started)| {
                let id = m.id();
                if let Some(chosen) = &m.shares_version_with {
                    let (why, help) =
                        crate::plan::interrupted_shared_version(&id, &m.version, chosen);
                    return format!(
                        "help: {} was interrupted part-way (it runs without a transaction: {}), \
                         and {why}: {help}",
                        crate::display::escape(&id),
                        committed_stays(m, started),
                    );
                }
                let kept = (m.left_behind()).filter(|left| left.keeps_recorded_interrupted());
                if let (Some(kept), true) = (kept, m.status.is_recorded()) {
                    if started.direction == "up" {
                        return format!(
                            "help: {} was interrupted part-way (it runs without a transaction: \
                             what committed stays), and {}",
                            crate::display::escape(&id),
                            kept.recorded_help()
                        );
                    }
                }
                if let Some(why) = &m.not_here {
                    return format!(
                        "help: {} was interrupted part-way (it runs without a transaction: {}), \
                         and {why}: {}",
                        crate::display::escape(&id),
                        committed_stays(m, started),
                        crate::plan::interrupted_unknown_help(started)
                    );
                }
                if let Some(from) = &m.renumbered_from {
                    return format!(
                        "help: {} was interrupted part-way while rolled back (it runs without a \
                         transaction: what committed stays), and its files were renumbered \
                         since (its row is recorded as {}); {} and {} refuse it; {}",
                        crate::display::escape(&id),
                        crate::display::escape(from),
                        crate::hint::command("migrate up"),
                        crate::hint::command("migrate reinit"),
                        crate::plan::interrupted_rollback_row_help(started)
                    );
                }
                let down = started.direction == "down";
                let (file, rerun) = match down {
                    true => ("its down file", "migrate down --rerun-interrupted"),
                    false => ("its up file", "migrate up --rerun-interrupted"),
                };
                let left = m.left_behind();
                let ways = match (down, m.recorded_above.is_empty()) {
                    (true, true) if left.is_none() && started.committed_every_statement() => {
                        crate::plan::rollback_committed_ways_on(&m.version, file, rerun)
                    }
                    (true, false) => crate::plan::rollback_under_rows_ways_on(
                        &m.version,
                        file,
                        &m.recorded_above,
                    ),
                    _ => crate::plan::interrupted_ways_on(
                        down,
                        &m.version,
                        file,
                        rerun,
                        "",
                        left.as_ref(),
                    ),
                };
                let reruns = left.as_ref().is_some_and(|left| left.reruns_committed());
                let ways = match reruns && !down {
                    true => crate::plan::with_committed_run_again(ways, &m.committed_again),
                    false => ways,
                };
                let ways = match down {
                    true => ways,
                    false => format!(
                        "{ways}; {}",
                        crate::plan::rolled_back_by_another_tool_help(&m.version, started)
                    ),
                };
                format!(
                    "help: {} was interrupted part-way (it runs without a transaction: {}), and \
                     {} refuses to run it again blindly; {ways}",
                    crate::display::escape(&id),
                    committed_stays(m, started),
                    crate::hint::command(if started.direction == "down" {
                        "migrate down"
                    } else {
                        "migrate up"
                    }),
                )
            })
            .collect()
    }

    /// What to do about each pending migration that `up` refuses over an INVALID index it
    /// would meet ([`MigrationStatus::invalid_index`]): drop it, then run `up` — the words of
    /// `up`'s refusal (`plan::drop_invalid_index_then`). One line each; none when
    /// there is none (or the database was not read for them).
    pub fn pending_invalid_index_help(&self) -> Vec<String> {
        (self.migrations.iter())
            .filter(|m| m.started.is_none() && !m.status.is_recorded())
            .filter_map(|m| {
                let index = m.invalid_index.as_deref()?;
                Some(format!(
                    "help: index {} exists and is INVALID: an earlier build of it by {} failed \
                     or was interrupted, and {} refuses to run {} (exit 4) until it is gone; {}",
                    crate::display::escape(index),
                    crate::display::escape(&m.id()),
                    crate::hint::command("migrate up"),
                    crate::display::escape(&m.id()),
                    crate::display::escape(&crate::plan::drop_invalid_index_then(
                        index,
                        "migrate up"
                    ))
                ))
            })
            .collect()
    }

    /// Marks the line `at`, a migration recorded over an apply a run left part-way
    /// ([`MigrationStatus::recorded_over`]), `interrupted` (recorded) with what that apply left
    /// that keeps it so (`left`, [`crate::plan::LeftBehind::keeps_recorded_interrupted`]: an
    /// INVALID index, a partition pending detach): the schema says the row made nothing
    /// whole. Its marker becomes the line's, and `interrupted` and its count say it.
    #[cfg(feature = "db")]
    pub(crate) fn interrupted_under_row(&mut self, at: usize, left: crate::plan::LeftBehind) {
        let Some(line) = self.migrations.get_mut(at) else {
            return;
        };
        let Some(marker) = line.recorded_over.take() else {
            return;
        };
        line.status = State::Interrupted { recorded: true };
        line.started = Some(marker);
        match left {
            crate::plan::LeftBehind::InvalidIndex(index) => line.invalid_index = Some(index),
            crate::plan::LeftBehind::RebuildCopies(copies) => line.set_rebuild_copies(copies),
            crate::plan::LeftBehind::PendingDetach(pending) => line.pending_detach = Some(pending),
            crate::plan::LeftBehind::UnfinishedDrop(index) => line.unfinished_drop = Some(index),
        }
        self.interrupted = (self.migrations.iter())
            .filter(|m| matches!(m.status, State::Interrupted { .. }))
            .map(|m| m.version.clone())
            .collect();
        self.summary.interrupted = self.interrupted.len();
    }

    /// Whether everything is applied and nothing diverged.
    pub fn is_up_to_date(&self) -> bool {
        self.exit_code() == exit::SUCCESS
    }

    /// Whether any migration is pending.
    pub fn has_pending(&self) -> bool {
        self.summary.pending > 0
    }
}

/// Decides the status of every migration of a directory with no diagnostics and no squashed
/// history: [`report_checked`] for the common case.
pub fn report(set: &MigrationSet, ledger: Option<&Ledger>, tracking_table: &str) -> StatusReport {
    report_checked(set, &[], None, ledger, tracking_table)
}

/// Decides the status of every migration. `diagnostics` are the directory's (from
/// [`crate::files::check`]), `first_version` the first version of a squashed history; `ledger`
/// is `None` when the tracking table does not exist; `tracking_table` is the name to report
/// (schema-qualified where known).
pub fn report_checked(
    set: &MigrationSet,
    diagnostics: &[Diagnostic],
    first_version: Option<u64>,
    ledger: Option<&Ledger>,
    tracking_table: &str,
) -> StatusReport {
    let options = crate::files::CheckOptions::default().first_version(first_version);
    report_while(set, diagnostics, &options, ledger, tracking_table, None)
}

/// [`report_checked`] while a run holds the migration lock (`running`, its holder as shown,
/// [`StatusReport::running`]): the start markers are of the migrations it is running.
/// `options`: those the directory was checked with (its first version, and where that was
/// set, which a help naming it names).
pub fn report_while(
    set: &MigrationSet,
    diagnostics: &[Diagnostic],
    options: &crate::files::CheckOptions,
    ledger: Option<&Ledger>,
    tracking_table: &str,
    running: Option<String>,
) -> StatusReport {
    let rows = ledger.map(|l| l.rows.as_slice()).unwrap_or(&[]);
    let history = History::of(set, rows, options.first_version);
    let errors = FileErrors::new(set, diagnostics);
    let mut migrations = lines(&history, &errors);
    let markers = ledger.map_or(&[][..], |l| &l.started);
    mark_interrupted(
        &mut migrations,
        &history,
        &history.interrupted(markers),
        running.is_none(),
    );
    if running.is_none() {
        mark_recorded_over(&mut migrations, &history.recorded_over(markers));
    }
    mark_interrupted_renumbered(
        &mut migrations,
        &history.interrupted_renumbered(markers),
        running.is_none(),
    );
    let interrupted_unknown = add_unknown(
        &mut migrations,
        &history.interrupted_unknown(markers),
        running.is_none(),
    );

    let versions = |keep: &dyn Fn(State) -> bool| -> Vec<String> {
        migrations
            .iter()
            .filter(|m| keep(m.status))
            .map(|m| m.version.clone())
            .collect()
    };
    let applied = versions(&|s| s.is_applied_migration());
    let pending = versions(&|s| !s.is_recorded());
    let modified = versions(&|s| s == State::Modified);
    let line_endings: Vec<(String, crate::history::LineEndingChange)> =
        (history.modified().into_iter())
            .filter_map(|r| {
                let m = r.migration?;
                let change = crate::history::line_endings_change(m, r.row)?;
                Some((m.version_text.clone(), change))
            })
            .collect();
    let modified_line_endings: Vec<String> = line_endings.iter().map(|(v, _)| v.clone()).collect();
    let changed = |keep: &dyn Fn(crate::history::LineEndingChange) -> bool| -> Vec<String> {
        (line_endings.iter())
            .filter(|(_, change)| keep(*change))
            .map(|(v, _)| v.clone())
            .collect()
    };
    let bom_removed = |c| c == crate::history::LineEndingChange::BomRemoved;
    let modified_applied_crlf = changed(&|c| c.file_has_lf() && !bom_removed(c));
    let modified_bom_removed = changed(&bom_removed);
    let missing = versions(&|s| s == State::Missing);
    let out_of_order = versions(&|s| s == State::OutOfOrder);
    let out_of_order_help = out_of_order.last().map(|through| {
        let over_run = crate::history::Version::of_ledger(through)
            .is_ok_and(|v| crate::plan::baseline_records_over_run(set, rows, markers, &v));
        crate::plan::out_of_order_help(
            applied.last().map(String::as_str),
            Some((through, over_run)),
        )
    });
    let squashed = versions(&|s| s == State::Squashed);
    let duplicate = versions(&|s| s == State::Duplicate);
    // A renumbered migration whose rollback was left part-way is both.
    let renumbered: Vec<String> = (migrations.iter())
        .filter(|m| m.status == State::Renumbered || m.renumbered_from.is_some())
        .map(|m| m.version.clone())
        .collect();
    let replaced = versions(&|s| s == State::Replaced);
    let ambiguous = versions(&|s| s == State::Ambiguous);
    let unreadable = versions(&|s| s.is_unreadable());
    let interrupted = versions(&|s| matches!(s, State::Interrupted { .. }));
    let respelled: Vec<String> = [State::Applied, State::Modified]
        .into_iter()
        .flat_map(|state| history.rows_in(state))
        .filter_map(|r| r.matched().filter(|m| m.version_text != r.row.version))
        .map(|m| m.version_text.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let incomplete: Vec<String> = migrations
        .iter()
        .filter(|m| m.status.is_applied_migration())
        .filter(|m| {
            m.number
                .is_some_and(|v| !history.incomplete_files(v).is_empty())
        })
        .map(|m| m.version.clone())
        .collect();
    let pair = |m: &&MigrationStatus| {
        let v = m.number.filter(|_| incomplete.contains(&m.version))?;
        Some(crate::plan::IncompletePair::of(history.incomplete_files(v)))
    };
    let pairs_that = |keep: &dyn Fn(crate::plan::IncompletePair) -> bool| -> Vec<String> {
        (migrations.iter())
            .filter(|m| pair(m).is_some_and(keep))
            .map(|m| m.version.clone())
            .collect()
    };
    let misnamed = pairs_that(&|p| matches!(p, crate::plan::IncompletePair::Misnamed { .. }));
    let misnamed_respelled =
        pairs_that(&|p| p == crate::plan::IncompletePair::Misnamed { respelled: true });
    // The rule of what counts as a recorded checksum is `history::recorded_checksum`'s.
    let unverified: Vec<String> = history
        .entries()
        .into_iter()
        .filter(|e| e.state == State::Applied && e.migration.is_some())
        .filter(|e| {
            e.row
                .is_some_and(|r| crate::history::recorded_checksum(r).is_none())
        })
        .map(|e| e.version.to_string())
        .collect();
    let summary = Summary {
        applied: applied.len(),
        pending: pending.len(),
        total: applied.len() + pending.len(),
        modified: modified.len(),
        missing: missing.len(),
        out_of_order: out_of_order.len(),
        squashed: squashed.len(),
        duplicate: duplicate.len(),
        renumbered: renumbered.len(),
        replaced: replaced.len(),
        ambiguous: ambiguous.len(),
        respelled: respelled.len(),
        unreadable: unreadable.len(),
        incomplete: incomplete.len(),
        unverified: unverified.len(),
        interrupted: interrupted.len(),
        invalid: migrations.iter().filter(|m| m.invalid).count(),
        errors: diagnostics.iter().filter(|d| d.is_error()).count(),
    };
    StatusReport {
        tracking_table: tracking_table.to_string(),
        applied,
        pending,
        migrations,
        summary,
        database: None,
        initialised: ledger.is_some(),
        cannot_create_ledger: None,
        database_not_named: None,
        new_schema: None,
        unrecorded: None,
        modified,
        modified_line_endings,
        modified_applied_crlf,
        modified_bom_removed,
        line_ending_changes: line_endings,
        missing,
        newer_database: crate::plan::newer_database_of(set, &history),
        another_members_rows: None,
        newer_database_alone: crate::plan::newer_database_alone(set, &history),
        out_of_order,
        squashed,
        duplicate,
        renumbered,
        replaced,
        ambiguous,
        respelled,
        unreadable,
        incomplete,
        misnamed,
        misnamed_respelled,
        unverified,
        interrupted,
        interrupted_unknown,
        running,
        #[cfg(feature = "db")]
        lock_held_by_prepared: None,
        #[cfg(feature = "db")]
        lock_held_by: None,
        diagnostics: crate::plan::explain_duplicates(
            &history,
            &crate::plan::explain_gaps(
                set,
                &history,
                &crate::plan::explain_applied(set, &history, diagnostics, options),
            ),
        ),
        renumbered_help: crate::plan::renumbered_help(set, &history),
        missing_leaves_gap: crate::plan::missing_leaves_gap(set, &history),
        ambiguous_help: crate::plan::ambiguous_help(set, &history, tracking_table),
        out_of_order_help,
        diverged: crate::plan::divergences(&history, false),
    }
}

/// The lines of the migrations a run started and never finished ([`State::Interrupted`]):
/// the live start markers ([`History::interrupted`], the one rule `up` and `down` refuse by),
/// each on the line of its migration — the unrecorded file's (an apply), or the row its file
/// matched (a rollback).
/// With a run going on (`interrupted` false: it holds the migration lock), the lines only
/// carry the markers of what it is running.
fn mark_interrupted(
    migrations: &mut [MigrationStatus],
    history: &History<'_>,
    marked: &[crate::history::Marked<'_, '_>],
    interrupted: bool,
) {
    for mark in marked {
        let fits = |m: &MigrationStatus| {
            m.number == Some(mark.migration.version)
                && match m.status {
                    State::Pending | State::OutOfOrder => !mark.down,
                    State::Applied | State::Modified => mark.down,
                    _ => false,
                }
        };
        // Its own line: two pairs may share the version (C003), and `status` lists both.
        let at = (migrations.iter())
            .position(|m| fits(m) && m.name == mark.migration.name)
            .or_else(|| migrations.iter().position(fits));
        let found = at.map(|i| &mut migrations[i]);
        if let Some(m) = found {
            if interrupted {
                m.status = State::Interrupted {
                    recorded: m.status.is_recorded(),
                };
                m.recorded_above = (crate::plan::recorded_above_rollback(history, mark).iter())
                    .map(|r| r.id())
                    .collect();
            }
            m.started = Some(mark.marker_of_file());
            if !mark.down {
                m.committed_again =
                    crate::plan::committed_statements_of(mark.marker, &mark.migration.up);
            }
        }
    }
}

/// The lines of the applied (or modified) migrations a row recorded over an apply a run left
/// part-way ([`History::recorded_over`]): each carries that marker
/// ([`MigrationStatus::recorded_over`]), for `Migrator::status` to read its index
/// ([`StatusReport::interrupted_under_row`]).
fn mark_recorded_over(
    migrations: &mut [MigrationStatus],
    marked: &[crate::history::Marked<'_, '_>],
) {
    for mark in marked {
        let line = migrations.iter_mut().find(|m| {
            m.number == Some(mark.migration.version)
                && m.name == mark.migration.name
                && matches!(m.status, State::Applied | State::Modified)
        });
        if let Some(m) = line {
            m.recorded_over = Some(mark.marker.clone());
        }
    }
}

/// The lines of the renumbered migrations whose rollback a run left part-way
/// ([`History::interrupted_renumbered`]): `interrupted` (a rollback, the ledger records it),
/// carrying the marker and the number the row has ([`MigrationStatus::renumbered_from`]).
/// With a run going on (`interrupted` false), they only carry the marker.
fn mark_interrupted_renumbered(
    migrations: &mut [MigrationStatus],
    marked: &[(&crate::history::Recorded<'_>, &crate::ledger::StartedRun)],
    interrupted: bool,
) {
    for (row, marker) in marked {
        let Some(file) = row.migration else {
            continue;
        };
        let found = migrations.iter_mut().find(|m| {
            m.status == State::Renumbered
                && m.number == Some(file.version)
                && m.version == file.version_text
        });
        if let Some(m) = found {
            if interrupted {
                m.status = State::Interrupted { recorded: true };
            }
            m.started = Some((*marker).clone());
            m.renumbered_from = Some(row.row.version.clone());
        }
    }
}

/// The lines of the migrations a run left part-way that these files do not know
/// ([`History::interrupted_unknown`]), each where its version goes, named by its marker;
/// returns their versions. With a run going on (`interrupted` false), they are the ones it is
/// running: pending, carrying the marker, and none is returned.
fn add_unknown(
    migrations: &mut Vec<MigrationStatus>,
    unknown: &[crate::history::Unknown<'_, '_>],
    interrupted: bool,
) -> Vec<String> {
    for u in unknown {
        let marker = u.marker;
        let number = crate::history::marker_number(marker);
        // An apply's of a pair here that shares its version with the version's migration
        // (C003, [`crate::history::Unknown::pair`]): on that pair's line, which `status` lists.
        let pair = u.pair.and_then(|pair| {
            migrations.iter_mut().find(|m| {
                m.number == Some(pair.version)
                    && m.version == pair.version_text
                    && m.name == pair.name
                    && m.started.is_none()
            })
        });
        if let Some(m) = pair {
            if interrupted {
                m.status = State::Interrupted { recorded: false };
            }
            m.started = Some(marker.clone());
            if let crate::history::NotHere::Another(chosen) = u.not_here {
                m.shares_version_with = Some(chosen.id());
            }
            continue;
        }
        // A rollback's: on the line of its row, which records the migration these files do not
        // have (missing, replaced), now `interrupted (rollback)`.
        if let Some(row) = u.row {
            let line = migrations.iter_mut().find(|m| {
                m.number.is_some()
                    && m.number == number
                    && m.name == row.name
                    && matches!(m.status, State::Missing | State::Replaced)
            });
            if let Some(m) = line {
                if interrupted {
                    m.status = State::Interrupted { recorded: true };
                }
                m.started = Some(marker.clone());
                m.not_here = Some(u.not_here.to_string());
            }
            continue;
        }
        let at = migrations
            .iter()
            .position(|m| match (m.number, number) {
                (Some(n), Some(v)) => n > v,
                (None, _) => true,
                (Some(_), None) => false,
            })
            .unwrap_or(migrations.len());
        let line = MigrationStatus {
            version: marker.version.clone(),
            number,
            name: marker.name.clone(),
            status: match interrupted {
                true => State::Interrupted { recorded: false },
                false => State::Pending,
            },
            applied_at: None,
            checksum: None,
            recorded_checksum: None,
            invalid: false,
            unreadable_files: Vec::new(),
            started: Some(marker.clone()),
            not_here: Some(u.not_here.to_string()),
            renumbered_from: None,
            invalid_index: None,
            rebuild_copies: Vec::new(),
            shares_version_with: None,
            recorded_over: None,
            recorded_above: Vec::new(),
            committed_again: Vec::new(),
            pending_detach: None,
            unfinished_drop: None,
        };
        migrations.insert(at, line);
    }
    match interrupted {
        true => unknown.iter().map(|u| u.marker.version.clone()).collect(),
        false => Vec::new(),
    }
}

/// Where a line goes in the table ([`crate::history::Entry::sort_key`]), its text borrowed.
type SortKey<'a> = (bool, u64, bool, &'a str);

/// One line per row and per file, in the table's order, drafts too broken to form a migration
/// included; those whose files have errors marked `invalid`.
fn lines(history: &History<'_>, errors: &FileErrors<'_>) -> Vec<MigrationStatus> {
    // Half a pair of a recorded migration is invalid whether or not its diagnostics are known.
    let invalid = |number: Option<u64>| {
        number.is_some_and(|v| errors.concern(v) || !history.incomplete_files(v).is_empty())
    };

    let mut entries: Vec<(SortKey<'_>, MigrationStatus)> = history
        .entries()
        .into_iter()
        .map(|e| {
            let status = MigrationStatus {
                version: e.version.to_string(),
                number: e.number,
                name: e.name.to_string(),
                status: e.state,
                applied_at: e.row.map(|r| r.applied_at.clone()),
                checksum: match (e.migration, e.number) {
                    _ if e.state == State::Duplicate => None,
                    (Some(m), _) => Some(m.up.checksum.clone()),
                    // Half a pair: its up file's, when that is the half there.
                    (None, Some(v)) => history
                        .incomplete_files(v)
                        .iter()
                        .find(|f| f.direction == crate::files::Direction::Up)
                        .map(|f| f.checksum.clone()),
                    (None, None) => None,
                },
                recorded_checksum: e.row.and_then(|r| r.checksum.clone()),
                invalid: invalid(e.number),
                started: None,
                not_here: None,
                renumbered_from: None,
                invalid_index: None,
                rebuild_copies: Vec::new(),
                shares_version_with: None,
                recorded_over: None,
                recorded_above: Vec::new(),
                committed_again: Vec::new(),
                pending_detach: None,
                unfinished_drop: None,
                unreadable_files: match (e.state, e.number) {
                    (State::Unreadable { .. }, Some(v)) => history
                        .unreadable_files(v)
                        .iter()
                        .map(|f| (*f).clone())
                        .collect(),
                    _ => Vec::new(),
                },
            };
            (e.sort_key(), status)
        })
        .collect();
    // A draft whose files are too broken to form a migration (no down file yet, say) is still
    // a line of the table, so that it is seen where it will run.
    let mut drafts = errors.drafts().peekable();
    let known: HashSet<u64> = match drafts.peek() {
        Some(_) => entries
            .iter()
            .filter(|(key, _)| !key.0)
            .map(|(key, _)| key.1)
            .collect(),
        None => HashSet::new(),
    };
    for draft in drafts {
        if !known.contains(&draft.version) {
            entries.push((
                (false, draft.version, false, draft.version_text.as_str()),
                MigrationStatus {
                    version: draft.version_text.clone(),
                    number: Some(draft.version),
                    name: draft.name.clone(),
                    status: history.unrecorded_state(draft.version),
                    applied_at: None,
                    checksum: None,
                    recorded_checksum: None,
                    invalid: true,
                    unreadable_files: Vec::new(),
                    started: None,
                    not_here: None,
                    renumbered_from: None,
                    invalid_index: None,
                    rebuild_copies: Vec::new(),
                    shares_version_with: None,
                    recorded_over: None,
                    recorded_above: Vec::new(),
                    committed_again: Vec::new(),
                    pending_detach: None,
                    unfinished_drop: None,
                },
            ));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, s)| s).collect()
}
