//! A migration marked `-- confiture:no-transaction`: statement by statement in autocommit, each
//! sent alone, its ledger row written only after every statement succeeded. Refused before it
//! runs when it would build again an index an interrupted run of it left INVALID.

use crate::hint::AGAIN;
use std::time::Instant;

use postgres::{Client, SimpleQueryMessage};

use super::failure::{
    cancelled, catalog_locked_words, connection_lost, interrupted, ledger_lock_holders,
    ledger_locked, ledger_state, left_out, lock_timed_out, reading_changed, sql_failure,
    statement_start, stopped, stopped_before_statements, MAX_CATALOG_HOLDERS,
};
use super::markers::Statement;
use super::script::{
    check_reading, reading_of, reads_as_sent, ReadingChanged, SendError, READING_SQL,
};
use super::sql::{
    connecting_role_and_lock_check, drop_session_objects, ledger_lock_wait_sql,
    lock_check_between_statements, lock_check_sql, record_sql, release_advisory_locks,
    timeouts_sql, RESET_SESSION,
};
use super::{ApplySettings, Direction, Script, Step, StepFailure, StepOutcome};
use crate::db::is_connection_lost;
use crate::db::notices::Collector;
use crate::error::{Error, ErrorKind};
use crate::files::SqlFile;
use crate::ledger::{MarkerKept, StartedRun};
use crate::plan::{LeftBehind, PendingDetach};

/// An index left INVALID (by a failed or interrupted `CREATE INDEX CONCURRENTLY` or `REINDEX
/// ... CONCURRENTLY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidIndex {
    /// `schema.name`, each part quoted as needed: what a `DROP INDEX` takes.
    qualified: String,
    /// Its schema's name, as stored.
    schema: String,
    /// The index's own name, as stored.
    name: String,
}

/// How a statement that opens a no-transaction file meets an INVALID index
/// ([`invalid_index_of_file`]): what the refusals over it say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Meets {
    /// A `CREATE INDEX` of that very index: it fails ("already exists") or, with `IF NOT
    /// EXISTS`, succeeds without building it.
    Builds,
    /// A `REINDEX ... CONCURRENTLY` rebuilding the index named here (`schema.name`, quoted as
    /// needed: of an index, a table, a schema or the database), whose earlier rebuild left the INVALID index (`<name>_ccnew`, `<name>_ccold`):
    /// rebuilding again succeeds and leaves it behind.
    Rebuilds(String),
}

/// An INVALID index a no-transaction file would meet ([`invalid_indexes_met`]): the index, as
/// `DROP INDEX` takes it, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexMet {
    /// The INVALID index.
    pub(crate) index: InvalidIndex,
    /// What the file does with it.
    pub(crate) meets: Meets,
    /// Of a rebuild ([`Meets::Rebuilds`]), every INVALID copy its earlier rebuilds left
    /// (`schema.name`, quoted as needed), `index`'s first: a `REINDEX TABLE` leaves one an index,
    /// its TOAST index's too, and a refusal names them all. Empty for a build.
    pub(crate) copies: Vec<String>,
}

impl InvalidIndex {
    /// `schema.name`, each part quoted as needed: what a `DROP INDEX` takes.
    pub(crate) fn qualified(&self) -> &str {
        &self.qualified
    }
}

/// A file read for the INVALID index it would meet or leave INVALID ([`invalid_index_of_file`]),
/// with its key and the start marker of its apply a run left part-way, if any.
pub(crate) type Looked<'f, K> = (K, &'f SqlFile, Option<&'f StartedRun>);

/// What a file is read for ([`invalid_index_of_file`]): the INVALID index a run of its
/// statements meets, or the one that recording it without running it leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Its statements run (`up`, `up --rerun-interrupted`, their dry runs, `status`' pending
    /// line): a build after a `DROP INDEX` of the file naming its index builds it anew
    /// ([`dropped_first`]): the file drops the INVALID index itself.
    Run,
    /// It is recorded without running (`baseline`/`reinit --through`), or what a run left is
    /// named (`status`, the refusals of `up` and `down`): every build the marker says is read.
    Record,
}

/// A bound on one of our reads: the message it makes of the read's SQL ([`reading`], or
/// `db::explaining` after a failure).
type Bounds<'a> = &'a dyn Fn(&str) -> String;

/// `sql`, a catalog read of ours around a no-transaction step's statements (the INVALID
/// indexes, the tracking table's identity), with the bounds of the ledger row's message: no
/// `statement_timeout` ([`crate::db::OWN_STATEMENT_BOUNDS`]), and a lock another session holds
/// on a catalog (`LOCK pg_catalog.pg_index`, `VACUUM FULL pg_class`) waited for no longer than
/// the command's lock wait ([`ledger_lock_wait_sql`]): over it, exit 6 naming the holder
/// ([`catalog_locked`]).
fn reading(settings: &ApplySettings, sql: &str) -> String {
    crate::db::own_statements(&format!("{} {sql}", ledger_lock_wait_sql(settings)))
}

/// Every INVALID index of the database, outside the system schemas, read within the
/// command's lock wait ([`reading`]).
pub(super) fn invalid_indexes(
    client: &mut Client,
    settings: &ApplySettings,
) -> Result<Vec<InvalidIndex>, postgres::Error> {
    invalid_indexes_bounded(client, &|sql| reading(settings, sql))
}

/// [`invalid_indexes`], its message begun by `bounded` ([`reading`], or `db::explaining`
/// after a failure).
fn invalid_indexes_bounded(
    client: &mut Client,
    bounded: Bounds<'_>,
) -> Result<Vec<InvalidIndex>, postgres::Error> {
    let messages = client.simple_query(&bounded(
        "SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname), \
         n.nspname, c.relname FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE NOT i.indisvalid ORDER BY 1",
    ))?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(InvalidIndex {
                qualified: r.get(0)?.to_string(),
                schema: r.get(1)?.to_string(),
                name: r.get(2)?.to_string(),
            }),
            _ => None,
        })
        .collect())
}

/// The schema of the table `name` (unquoted, as a statement names it) as this session's
/// `search_path` finds it, where a `CREATE INDEX ... ON name` creates its index; `None` when
/// there is no such relation (the statement fails on its own). A simple query, so that its
/// message carries the bounds `bounded` gives it.
fn table_schema(
    client: &mut Client,
    bounded: Bounds<'_>,
    name: &str,
) -> Result<Option<String>, postgres::Error> {
    let sql = format!(
        "SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({}::pg_catalog.text)",
        relation_literal(None, name)
    );
    let messages = client.simple_query(&bounded(&sql))?;
    Ok(messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    }))
}

/// The INVALID index a `CREATE [UNIQUE] INDEX` of `file` would create again: left by an
/// interrupted run of this very migration (client killed, server restarted), it makes the
/// statement fail with "already exists" — or, with `IF NOT EXISTS`, succeed without building
/// anything. The statement is read by the rules' DDL reader (`files::rules::created_index`):
/// the index it names, in its table's schema — qualified, else where the session's
/// `search_path` finds the table (a tenant's schema), as the server will. An INVALID index of
/// that name in another schema (another tenant's) is not this one's.
///
/// Only the builds that open the file are looked at ([`index_builds`] without a marker), run
/// again after an interrupted apply too: after another statement, the file may drop the
/// INVALID index itself before it builds it (`DROP INDEX ... IF EXISTS`), and the server
/// decides; a build that fails on it, or skips it (`IF NOT EXISTS`), is named by the failure.
pub(super) fn invalid_index_recreated(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    invalid: &[InvalidIndex],
) -> Result<Option<IndexMet>, postgres::Error> {
    let marker = (step.direction == Direction::Up)
        .then(|| crate::history::apply_marker_of(&settings.markers, step.migration.version))
        .flatten();
    let bounded = |sql: &str| reading(settings, sql);
    let file = step.file();
    invalid_index_of_file(client, &bounded, file, marker, Reading::Run, invalid)
}

/// [`invalid_index_recreated`], its reads begun by `bounded`: the one rule of which INVALID
/// index a file would build again — what a run refuses to build over, what a migration
/// recorded without running it would leave behind ([`refuse_recording_invalid_index`]), and
/// what `status` and `up --dry-run` say of a pending migration ([`invalid_indexes_met`]). A
/// `REINDEX ... CONCURRENTLY` among the statements read (of an index, a table, a schema or
/// the database) meets the INVALID copy an earlier rebuild of one of its indexes left
/// ([`index_rebuilt_again`]): it would succeed and leave it behind, INVALID, for good.
/// `marker`: the start marker of an apply of `file` a run left part-way, which says the
/// statements read ([`index_builds`]).
fn invalid_index_of_file(
    client: &mut Client,
    bounded: Bounds<'_>,
    file: &SqlFile,
    marker: Option<&StartedRun>,
    read: Reading,
    invalid: &[InvalidIndex],
) -> Result<Option<IndexMet>, postgres::Error> {
    if invalid.is_empty() {
        return Ok(None);
    }
    for (text, path) in index_builds(file, marker, read) {
        // Read with the `search_path` the file's statements before it left (a rebuild's
        // index or table named bare is found there too).
        let bounded = |sql: &str| bounded(&format!("{} {sql}", path.before()));
        if crate::files::rules::created_index(text).is_some() {
            if let Some(found) = index_built_again(client, &bounded, text, invalid)? {
                return Ok(Some(IndexMet {
                    index: found.clone(),
                    meets: Meets::Builds,
                    copies: Vec::new(),
                }));
            }
        } else if crate::files::rules::concurrently_reindexed(text).is_some() {
            let copies = index_rebuilt_again(client, &bounded, text, invalid)?;
            if let Some((found, of)) = copies.first() {
                return Ok(Some(IndexMet {
                    index: (*found).clone(),
                    meets: Meets::Rebuilds(of.clone()),
                    copies: (copies.iter()).map(|(c, _)| c.qualified.clone()).collect(),
                }));
            }
        }
    }
    Ok(None)
}

/// Whether statement `text` builds an index: a `CREATE [UNIQUE] INDEX`, or a `REINDEX ...
/// CONCURRENTLY`.
fn builds_index(text: &str) -> bool {
    crate::files::rules::created_index(text).is_some()
        || crate::files::rules::concurrently_reindexed(text).is_some()
}

/// The statements of `file` whose index may be one an interrupted build left INVALID, the one
/// scope of [`invalid_index_of_file`]:
///
/// - the index builds that open the file. Once any other statement comes first, what the
///   session and the database will be when the build runs is not known here (a `SET
///   search_path` moves the table to another schema, a `DROP INDEX` removes the INVALID
///   index), and the server decides; a build that fails on an INVALID index is named by the
///   failure ([`statement_failed`]);
/// - of a file whose apply a run left part-way (`marker`, its start marker, `up`), every index
///   build from the statement the run was running on, whatever comes before it: the statements
///   before that one committed (their builds finished, valid), that one may have been cut
///   part-way, its index left INVALID, and so may those after it, the marker lagging behind
///   the run (it is not advanced while the session reads SQL otherwise than as sent). Such an
///   index is never finished by a run again, nor by recording the migration. Where the table
///   of such a build is depends on the session the statements before it left: after one that
///   may set `search_path` ([`may_set_search_path`]), only a build naming its table's schema
///   is read (this session's `search_path` would find another table).
fn index_builds<'f>(
    file: &'f SqlFile,
    marker: Option<&StartedRun>,
    read: Reading,
) -> impl Iterator<Item = (&'f str, SearchPath)> + 'f {
    let texts = (file.statements.iter()).filter_map(|s| file.text.get(s.range.clone()));
    let opening = texts.clone().take_while(|text| builds_index(text)).count();
    let reached = (marker.filter(|m| m.direction == "up"))
        .map_or(usize::MAX, |m| (m.statement as usize).saturating_sub(1));
    let mut path = SearchPath::Session;
    let mut dropped: Vec<(Option<String>, String)> = Vec::new();
    (texts.enumerate()).filter_map(move |(at, text)| {
        let read = at < opening
            || (at >= reached
                && builds_index(text)
                && (path != SearchPath::Unknown || names_its_schema(text))
                && !(read == Reading::Run && dropped_first(&dropped, text)));
        let seen = path.clone();
        if may_set_search_path(text) {
            path = search_path_set_by(text).map_or(SearchPath::Unknown, SearchPath::Set);
        }
        if let Some(names) = crate::files::rules::dropped_indexes(text) {
            dropped.extend((names.into_iter()).map(|n| {
                (
                    n.schema.map(std::borrow::Cow::into_owned),
                    n.name.into_owned(),
                )
            }));
        }
        read.then_some((text, seen))
    })
}

/// The `search_path` the statements of a file before a build left its session with
/// ([`index_builds`]), which decides where the build's table is: as the reading session has
/// it (no statement set it), the `SET LOCAL` that gives the reading session the file's
/// ([`search_path_set_by`]), or not known (a statement set it otherwise: a `DO` block, a
/// `set_config` call): then only a build naming its table's schema is read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SearchPath {
    Session,
    Set(String),
    Unknown,
}

impl SearchPath {
    /// What a read of the build's table sends before it (empty, or the `SET LOCAL`).
    fn before(&self) -> &str {
        match self {
            SearchPath::Set(set) => set,
            _ => "",
        }
    }
}

/// The `SET LOCAL search_path ...;` that gives a reading session (in its message's
/// transaction) the `search_path` statement `text` sets for the rest of its own session: a
/// `SET [SESSION] search_path {= | TO} ...` of names (words, quoted identifiers, plain
/// strings) or `DEFAULT`, a `RESET search_path` or `RESET ALL`. `None` for any other way of
/// setting it ([`may_set_search_path`]), whose value is not read here.
fn search_path_set_by(text: &str) -> Option<String> {
    use crate::files::lexer::TokenKind;
    let words: Vec<_> = (crate::files::lexer::tokens(text))
        .filter(|t| !t.is_trivia() && t.kind != TokenKind::Semicolon)
        .collect();
    let default = "SET LOCAL search_path TO DEFAULT;".to_string();
    match words.as_slice() {
        [reset, what]
            if reset.is_word("reset") && (what.is_word("all") || what.is_word("search_path")) =>
        {
            return Some(default);
        }
        _ => {}
    }
    let rest = match words.as_slice() {
        [set, session, name, rest @ ..]
            if set.is_word("set") && session.is_word("session") && name.is_word("search_path") =>
        {
            rest
        }
        [set, name, rest @ ..] if set.is_word("set") && name.is_word("search_path") => rest,
        _ => return None,
    };
    let [to, values @ ..] = rest else {
        return None;
    };
    if !(to.text == "=" || to.is_word("to")) || values.is_empty() {
        return None;
    }
    // Names (words, quoted identifiers, plain strings), one comma between each two.
    let plain = |(at, t): (usize, &crate::files::lexer::Token<'_>)| match t.kind {
        TokenKind::Comma => at % 2 == 1,
        TokenKind::Word => at % 2 == 0,
        TokenKind::QuotedIdent => at % 2 == 0 && t.text.starts_with('"'),
        TokenKind::String => at % 2 == 0 && t.text.starts_with('\'') && !t.text.contains('\\'),
        _ => false,
    };
    if values.len() % 2 == 0 || !values.iter().enumerate().all(plain) {
        return None;
    }
    let values: Vec<&str> = values.iter().map(|t| t.text).collect();
    Some(format!("SET LOCAL search_path TO {};", values.join(" ")))
}

/// Whether an index build `text` of a file builds anew what a statement before it drops
/// (`dropped`: each index a `DROP INDEX` named, its schema when qualified): a `CREATE INDEX`
/// of an index of that name (in that schema, when both name one), or a `REINDEX ...
/// CONCURRENTLY` after a drop of a copy an earlier rebuild leaves (`<index>_ccnew`,
/// `_ccold`). A run of the file drops the INVALID index itself before the build meets it.
fn dropped_first(dropped: &[(Option<String>, String)], text: &str) -> bool {
    if let Some((Some(name), table)) = crate::files::rules::created_index(text) {
        return (dropped.iter()).any(|(schema, dropped)| {
            *dropped == *name
                && match (schema, &table.schema) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        });
    }
    crate::files::rules::concurrently_reindexed(text).is_some()
        && (dropped.iter()).any(|(_, name)| rebuild_copy_name(name))
}

/// Whether statement `text` may set the session's `search_path`: it names it, in a word, a
/// string or a body (`SET search_path`, `set_config('search_path', ...)`, a `DO` block doing
/// either); or it is a `RESET ALL`.
fn may_set_search_path(text: &str) -> bool {
    let mut words = crate::files::lexer::tokens(text).filter(|t| !t.is_trivia());
    let reset_all = (words.clone().next()).is_some_and(|t| t.is_word("reset"))
        && (words.clone().nth(1)).is_some_and(|t| t.is_word("all"));
    reset_all
        || words.any(|t| {
            (t.text.as_bytes().windows("search_path".len()))
                .any(|w| w.eq_ignore_ascii_case(b"search_path"))
        })
}

/// Whether the `CREATE INDEX` statement `text` names its table's schema (`ON app.t`): where it
/// builds does not depend on the session's `search_path`.
fn names_its_schema(text: &str) -> bool {
    crate::files::rules::created_index(text).is_some_and(|(_, table)| table.schema.is_some())
}

/// Whether an INVALID index is read for `file` ([`invalid_index_of_file`]): it has a statement
/// [`index_builds`] names; with `concurrently_only` (a pending migration, which `up` refuses
/// before it runs), only when it opens with a `CREATE INDEX CONCURRENTLY` or a `REINDEX ...
/// CONCURRENTLY`, or its interrupted apply (`marker`) left one to read. Without one, no round
/// trip.
fn reads_invalid_index(
    file: &SqlFile,
    marker: Option<&StartedRun>,
    read: Reading,
    concurrently_only: bool,
) -> bool {
    let concurrent = |text: &str| {
        crate::files::rules::concurrently_created_index(text).is_some()
            || crate::files::rules::concurrently_reindexed(text).is_some()
    };
    let mut builds = index_builds(file, marker, read).map(|(text, _)| text);
    if !concurrently_only {
        return builds.next().is_some();
    }
    let opens = (file.statements.first())
        .and_then(|s| file.text.get(s.range.clone()))
        .is_some_and(concurrent);
    opens || (marker.is_some() && builds.any(concurrent))
}

/// Refuses (exit 4, as `up --rerun-interrupted` refuses to build over it,
/// [`invalid_index_left_behind`]) to record as applied without running it (`baseline
/// --through`, `reinit --through`: `again`, the command) any migration of `recorded` (its id,
/// up file, and the start marker of its apply a run left part-way, if any) whose index an
/// interrupted build left INVALID ([`invalid_index_recreated`]'s rule): recorded, the index
/// would stay INVALID, unused by queries, and never built. Read within the command's
/// `lock_wait`, before anything is written; names the index and the `DROP INDEX CONCURRENTLY`
/// to run first, then the command again (`run`'s) — with `--yes` when it records over a run
/// left part-way (its start marker), which the record asks to be confirmed
/// ([`crate::plan::confirm_recording_interrupted`]).
pub(crate) fn refuse_recording_invalid_index<'f>(
    client: &mut Client,
    lock_wait: std::time::Duration,
    recorded: impl IntoIterator<Item = Looked<'f, (String, String)>>,
    run: &crate::db::ledger::RewriteRun<'_>,
) -> crate::Result<()> {
    let refused = format!(
        "the server refused reading the INVALID indexes before `{}`: nothing was written",
        run.again()
    );
    let recorded: Vec<_> = recorded.into_iter().collect();
    if let Some(((id, version), index)) =
        unfinished_drop_recorded(client, lock_wait, &recorded, &refused)?
    {
        // Recorded, the index would stay INVALID for good, the drop never finished.
        let rerun = format!("migrate up --target {version} --rerun-interrupted");
        let left = LeftBehind::UnfinishedDrop(index.clone());
        return Err(Error::new(
            ErrorKind::MigrationFailed,
            format!(
                "migration {id} cannot be recorded as applied: its interrupted run's `DROP \
                 INDEX CONCURRENTLY` of {index} was cut part-way and left the index INVALID; \
                 nothing was written"
            ),
        )
        .with_help(crate::plan::interrupted_ways_on(
            false,
            version,
            "its up file",
            &rerun,
            "",
            Some(&left),
        )));
    }
    let recorded = (recorded.into_iter())
        .map(|((id, version), file, marker)| ((id, version, marker.is_some()), file, marker));
    let Some(((id, version, over_marker), met)) =
        first_invalid_index_left(client, lock_wait, recorded, &refused)?
    else {
        return Ok(());
    };
    let again = run.again_confirming(over_marker);
    let index = &met.index;
    let error = Error::new(
        ErrorKind::MigrationFailed,
        format!(
            "{}: it cannot be recorded as applied; nothing was written",
            meets_invalid_index(&id, &met)
        ),
    )
    .with_detail(interrupted_build(index, &met.meets));
    Err(error.with_help(recording_invalid_index_help(
        (&id, &version),
        &met,
        over_marker,
        &again,
    )))
}

/// The first of `recorded` whose apply a run left part-way at a `DROP INDEX CONCURRENTLY`
/// (its marker's statement) that left its index INVALID ([`unfinished_drop_bounded`]), with
/// that index: [`refuse_recording_invalid_index`] refuses to record it. No round trip when no
/// such marker names a drop.
fn unfinished_drop_recorded<'r>(
    client: &mut Client,
    lock_wait: std::time::Duration,
    recorded: &'r [Looked<'_, (String, String)>],
    refused: &str,
) -> crate::Result<Option<(&'r (String, String), String)>> {
    let drops: Vec<_> = (recorded.iter())
        .filter_map(|(key, file, marker)| {
            let index = ((*marker)?.statement as usize).checked_sub(1)?;
            drops_index(file, index).then_some((key, *file, index))
        })
        .collect();
    if drops.is_empty() {
        return Ok(None);
    }
    let bounded = lock_bounded(lock_wait);
    let failed = refused_reading(refused);
    let invalid = invalid_indexes_bounded(client, &bounded).map_err(&failed)?;
    for (key, file, index) in drops {
        if let Some(found) =
            unfinished_drop_bounded(client, &bounded, file, index, &invalid).map_err(&failed)?
        {
            return Ok(Some((key, found.qualified.clone())));
        }
    }
    Ok(None)
}

/// The bounds of a read of ours before a command runs anything: one implicit transaction,
/// waiting for a lock no longer than `lock_wait`, no `statement_timeout`.
fn lock_bounded(lock_wait: std::time::Duration) -> impl Fn(&str) -> String {
    let wait = format!(
        "SET LOCAL lock_timeout = '{}';",
        super::sql::lock_wait_literal(lock_wait)
    );
    move |sql: &str| crate::db::own_statements(&format!("{wait} {sql}"))
}

/// The ways on from [`refuse_recording_invalid_index`]'s refusal to record migration `id`
/// (of `version`) over the INVALID index `met`, `again` the refused command as it would be
/// accepted, `over_marker` whether a run of it was left part-way (its start marker there).
///
/// An index the migration builds ([`Meets::Builds`]) is its own: dropped, it is missing, and
/// recording the migration would call it applied without it — so the help never offers to
/// record it once dropped. Over a run left part-way, the ways on are that run's
/// ([`crate::plan::interrupted_ways_on`]: run it again, which builds it, or abandon it); with
/// none, the index is built again as its up file builds it before the migration is recorded.
/// A copy an earlier `REINDEX ... CONCURRENTLY` left ([`Meets::Rebuilds`]) is not the
/// migration's own (the rebuilt index is whole): dropped, the migration may be recorded.
fn recording_invalid_index_help(
    (id, version): (&str, &str),
    met: &IndexMet,
    over_marker: bool,
    again: &str,
) -> String {
    let index = &met.index.qualified;
    // `up` stops at the migration it was asked to record, never beyond it.
    let rerun = format!("migrate up --target {version} --rerun-interrupted");
    match (&met.meets, over_marker) {
        (Meets::Builds, true) => crate::plan::interrupted_ways_on(
            false,
            version,
            "its up file",
            &rerun,
            "",
            Some(&LeftBehind::InvalidIndex(index.clone())),
        ),
        (Meets::Builds, false) => format!(
            "drop the unfinished index, `DROP INDEX CONCURRENTLY {index};`, and build it again \
             as {id}'s up file builds it (recorded without it, {id} would be called applied \
             with its index missing); then run {} again to record it, if everything else {id} \
             makes is there",
            crate::hint::command(again),
        ),
        (Meets::Rebuilds(of), _) => {
            let copies = if met.copies.is_empty() {
                std::slice::from_ref(index)
            } else {
                &met.copies[..]
            };
            let drops = (copies.iter())
                .map(|copy| format!("`DROP INDEX CONCURRENTLY {copy};`"))
                .collect::<Vec<_>>()
                .join(" ");
            let or_rerun = match over_marker {
                true => format!("; or run {} to run it again", crate::hint::command(&rerun)),
                false => String::new(),
            };
            format!(
                "drop what the earlier rebuild left ({of} itself is whole): {drops}, then run {} \
                 again to record it, if everything else {id} makes is there{or_rerun}",
                crate::hint::command(again),
            )
        }
    }
}

/// What each run left part-way (`markers`) of a migration of `set` left in the database
/// ([`left_behind`]), each as its marker's version: the refusal of `up` or `down` over such a
/// migration names it ([`crate::plan::check_interrupted_with`]), as `status` does.
pub(crate) fn interrupted_left_behind(
    client: &mut Client,
    set: &crate::files::MigrationSet,
    markers: &[StartedRun],
    wait: std::time::Duration,
) -> crate::Result<Vec<(String, LeftBehind)>> {
    let runs = markers.iter().filter_map(|marker| {
        let number = crate::history::marker_number(marker);
        let m = set.migrations.iter().find(|m| Some(m.version) == number)?;
        Some((marker.version.clone(), marker, m))
    });
    left_behind(|| Ok(client), wait, runs)
}

/// What each of `runs` (a key, the marker of a run left part-way and its migration) left in
/// the database that its ways on depend on ([`LeftBehind`]), in their order, those that left
/// nothing left out: for an apply, the index its up file builds that an interrupted build left
/// INVALID ([`invalid_index_recreated`]'s rule, the one that makes
/// [`refuse_recording_invalid_index`] refuse to record it: the interrupted help of `status`,
/// `up` and `down` then does not suggest recording it); else the partition the statement it was running
/// (`StartedRun::statement`), a `DETACH PARTITION ... CONCURRENTLY`, left pending detach
/// ([`pending_detach_bounded`]). The one read of `status`' help and of the refusals of `up`
/// and `down`, within `lock_wait`: one read of the INVALID indexes for every run (none when no
/// apply's up file has an index build to read, [`reads_invalid_index`] given its marker), and a read of the partitions only for a run
/// whose statement is such a detach — a ledger of many interrupted runs is read in as few
/// round trips as one. `client` is asked for only when there is a run: none, no round trip
/// (not even [`crate::Migrator::client`]'s liveness probe).
pub(crate) fn left_behind<'m, 'c, K>(
    client: impl FnOnce() -> crate::Result<&'c mut Client>,
    lock_wait: std::time::Duration,
    runs: impl IntoIterator<Item = (K, &'m StartedRun, &'m crate::files::Migration)>,
) -> crate::Result<Vec<(K, LeftBehind)>> {
    let runs: Vec<_> = runs.into_iter().collect();
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    let client = client()?;
    // The file each run was running, and the statement its marker names (0-based).
    let running = |marker: &StartedRun, m: &'m crate::files::Migration| {
        let file = if marker.direction == "up" {
            &m.up
        } else {
            &m.down
        };
        Some((file, (marker.statement as usize).checked_sub(1)?))
    };
    let builds: Vec<_> = (runs.iter().enumerate())
        .filter(|(_, (_, marker, m))| {
            marker.direction == "up"
                && reads_invalid_index(&m.up, Some(marker), Reading::Record, false)
        })
        .map(|(at, (_, marker, m))| (at, &m.up, Some(*marker)))
        .collect();
    let drops = (runs.iter()).any(|(_, marker, m)| {
        running(marker, m).is_some_and(|(file, index)| drops_index(file, index))
    });
    let failed = refused_reading("the server refused reading the INVALID indexes");
    let bounded = lock_bounded(lock_wait);
    let listed = match drops || !builds.is_empty() {
        true => invalid_indexes_bounded(client, &bounded).map_err(&failed)?,
        false => Vec::new(),
    };
    let mut invalid = indexes_met_in(client, &bounded, &listed, builds, (Reading::Record, false))
        .map_err(&failed)?
        .into_iter();
    let mut next_invalid = invalid.next();
    let mut found = Vec::new();
    for (at, (key, marker, m)) in runs.into_iter().enumerate() {
        // The INVALID indexes met come in the runs' order, at most one a run.
        let met = next_invalid.take_if(|(of, _)| *of == at);
        if met.is_some() {
            next_invalid = invalid.next();
        }
        let Some((file, index)) = running(marker, m) else {
            continue;
        };
        // The statement it was running first: a drop cut part-way left its index INVALID,
        // which a build after it in the file would otherwise be read as having left.
        if let Some(dropped) =
            unfinished_drop_bounded(client, &bounded, file, index, &listed).map_err(&failed)?
        {
            found.push((key, LeftBehind::UnfinishedDrop(dropped.qualified.clone())));
            continue;
        }
        if let Some((_, met)) = met {
            found.push((
                key,
                match met.meets {
                    Meets::Builds => LeftBehind::InvalidIndex(met.index.qualified),
                    Meets::Rebuilds(_) => LeftBehind::RebuildCopies(met.copies),
                },
            ));
            continue;
        }
        let pending = pending_detach_bounded(client, &bounded, file, index).map_err(|e| {
            let cause = crate::db::cause_text(&e);
            Error::connection(
                "the server refused reading the partitions pending detach".to_string(),
            )
            .with_source_shown(e, cause)
        })?;
        if let Some(pending) = pending {
            found.push((key, LeftBehind::PendingDetach(pending)));
        }
    }
    Ok(found)
}

/// A read of the catalogs that `up`, `down`, `status` or a rewrite make before they run
/// anything, refused by the server: a connection error saying `refused`, the server's own
/// error its source.
fn refused_reading(refused: &str) -> impl Fn(postgres::Error) -> Error + '_ {
    move |e| {
        let cause = crate::db::cause_text(&e);
        Error::connection(refused.to_string()).with_source_shown(e, cause)
    }
}

/// The first of `files` (each with its key) whose index an interrupted build left INVALID
/// ([`invalid_index_of_file`]), and that index: the lock-bounded read of
/// [`refuse_recording_invalid_index`] ([`left_behind`] reads every run's alike). Only a file
/// with an index build to read ([`index_builds`]) can name one: without one, no round trip.
/// Each message is one implicit transaction bounded by `lock_wait` (`SET LOCAL lock_timeout`,
/// no `statement_timeout`): never sent inside a transaction block, which those bounds would
/// outlive. A failure is a connection error saying `refused`.
fn first_invalid_index_left<'f, K>(
    client: &mut Client,
    lock_wait: std::time::Duration,
    files: impl IntoIterator<Item = Looked<'f, K>>,
    refused: &str,
) -> crate::Result<Option<(K, IndexMet)>> {
    let files = (files.into_iter())
        .filter(|(_, file, marker)| reads_invalid_index(file, *marker, Reading::Record, false));
    let met = invalid_indexes_left(client, lock_wait, files, refused, (Reading::Record, true))?;
    Ok(met.into_iter().next())
}

/// The INVALID index each no-transaction migration of `files` (each with its key and the
/// start marker of its apply a run left part-way, run again by `--rerun-interrupted`) would
/// meet before it runs, by the rule `up` refuses it with ([`invalid_index_recreated`], given
/// the same marker): `status` names it on a pending migration's line, and `up --dry-run`
/// refuses as `up` would ([`refused_over_invalid_index`]). One read of the INVALID indexes,
/// within `lock_wait` (a look for the table of an unqualified name too, only when an INVALID
/// index has the name a file builds); no round trip when no file is a no-transaction one
/// opening with a `CONCURRENTLY` build, or left part-way at or before one: `client` is asked
/// for only then (not even [`crate::Migrator::client`]'s liveness probe otherwise).
pub(crate) fn invalid_indexes_met<'f, 'c, K>(
    client: impl FnOnce() -> crate::Result<&'c mut Client>,
    lock_wait: std::time::Duration,
    files: impl IntoIterator<Item = Looked<'f, K>>,
) -> crate::Result<Vec<(K, IndexMet)>> {
    let files: Vec<Looked<'f, K>> = (files.into_iter())
        .filter(|(_, file, marker)| {
            file.mode == crate::files::TransactionMode::NoTransaction
                && reads_invalid_index(file, *marker, Reading::Run, true)
        })
        .collect();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let refused = "the server refused reading the INVALID indexes";
    invalid_indexes_left(client()?, lock_wait, files, refused, (Reading::Run, false))
}

/// The INVALID index each of `files` would meet ([`invalid_index_of_file`]), after one read of
/// the INVALID indexes; only the first when `first`. See [`first_invalid_index_left`].
fn invalid_indexes_left<'f, K>(
    client: &mut Client,
    lock_wait: std::time::Duration,
    files: impl IntoIterator<Item = Looked<'f, K>>,
    refused: &str,
    read: (Reading, bool),
) -> crate::Result<Vec<(K, IndexMet)>> {
    let files: Vec<Looked<'f, K>> = files.into_iter().collect();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let bounded = lock_bounded(lock_wait);
    let failed = refused_reading(refused);
    let invalid = invalid_indexes_bounded(client, &bounded).map_err(&failed)?;
    indexes_met_in(client, &bounded, &invalid, files, read).map_err(failed)
}

/// The INVALID index of `invalid` (read once) each of `files` would meet
/// ([`invalid_index_of_file`]), its reads begun by `bounded`; only the first when `first`. No
/// round trip when `invalid` is empty.
fn indexes_met_in<'f, K>(
    client: &mut Client,
    bounded: Bounds<'_>,
    invalid: &[InvalidIndex],
    files: impl IntoIterator<Item = Looked<'f, K>>,
    (read, first): (Reading, bool),
) -> Result<Vec<(K, IndexMet)>, postgres::Error> {
    let mut met = Vec::new();
    if invalid.is_empty() {
        return Ok(met);
    }
    for (key, file, marker) in files {
        if let Some(found) = invalid_index_of_file(client, bounded, file, marker, read, invalid)? {
            met.push((key, found));
            if first {
                break;
            }
        }
    }
    Ok(met)
}

/// The INVALID index of `invalid` that the `CREATE [UNIQUE] INDEX` statement `text` would
/// build again, its table found as this session's `search_path` finds it now; `None` for any
/// other statement. Its read is begun by `bounded` ([`reading`], or `db::explaining` after a
/// failure).
fn index_built_again<'i>(
    client: &mut Client,
    bounded: Bounds<'_>,
    text: &str,
    invalid: &'i [InvalidIndex],
) -> Result<Option<&'i InvalidIndex>, postgres::Error> {
    let Some((Some(name), table)) = crate::files::rules::created_index(text) else {
        return Ok(None);
    };
    if !invalid.iter().any(|i| i.name == name) {
        return Ok(None);
    }
    let schema = match table.schema {
        Some(schema) => Some(schema.into_owned()),
        None => table_schema(client, bounded, &table.name)?,
    };
    Ok(invalid
        .iter()
        .find(|i| i.name == name && schema.as_deref() == Some(i.schema.as_str())))
}

/// The INVALID indexes of `invalid` (all of them, in order) that an earlier concurrent rebuild of an index the statement
/// `text` rebuilds left — any `REINDEX ... CONCURRENTLY`, of an index, a table, a schema or the
/// database ([`crate::files::rules::Reindexed`]): a copy of one of those indexes
/// ([`left_by_rebuild_of`]) beside it on its table, the names found as this session's
/// `search_path` finds them now — with that index (`schema.name`, quoted as needed); `None`
/// for any other statement. The server skips an INVALID index in a rebuild of a table, a
/// schema or the database: run again, it succeeds and leaves the copy for good. No read when
/// no INVALID index is named as a copy; its read is begun by `bounded`, as
/// [`index_built_again`]'s.
fn index_rebuilt_again<'i>(
    client: &mut Client,
    bounded: Bounds<'_>,
    text: &str,
    invalid: &'i [InvalidIndex],
) -> Result<Vec<(&'i InvalidIndex, String)>, postgres::Error> {
    use crate::files::rules::Reindexed;
    let Some(reindexed) = crate::files::rules::concurrently_reindexed(text) else {
        return Ok(Vec::new());
    };
    if !invalid.iter().any(|i| rebuild_copy_name(&i.name)) {
        return Ok(Vec::new());
    }
    // The tables whose indexes it rebuilds (each partition's and TOAST table's too); or, of
    // `REINDEX INDEX`, the index itself and a partitioned one's partitions' indexes.
    let tables_of = |tables: &str| {
        format!(
            "si.indrelid OPERATOR(pg_catalog.=) ANY (SELECT t.oid FROM ({tables}) t \
             UNION ALL SELECT c.reltoastrelid FROM pg_catalog.pg_class c \
             WHERE c.oid OPERATOR(pg_catalog.=) ANY (SELECT t.oid FROM ({tables}) t))"
        )
    };
    // The relation and, partitioned, its partitions (`pg_partition_tree` has no row for a
    // relation that is neither partitioned nor a partition).
    let tree = |schema: Option<&str>, name: &str| {
        let named = format!(
            "pg_catalog.to_regclass({}::pg_catalog.text)",
            relation_literal(schema, name)
        );
        format!(
            "SELECT {named}::pg_catalog.oid AS oid UNION \
             SELECT relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree({named})"
        )
    };
    let scope = match &reindexed {
        Reindexed::Index(index) => format!(
            "si.indexrelid OPERATOR(pg_catalog.=) ANY ({})",
            tree(index.schema.as_deref(), &index.name)
        ),
        Reindexed::Table(table) => tables_of(&tree(table.schema.as_deref(), &table.name)),
        Reindexed::Schema(schema) => tables_of(&format!(
            "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
             WHERE n.nspname OPERATOR(pg_catalog.=) {}::pg_catalog.name",
            crate::ledger::literal(schema)
        )),
        Reindexed::Database => "true".to_string(),
    };
    let qualified = |n: &str, c: &str| {
        format!(
            "pg_catalog.quote_ident({n}.nspname) OPERATOR(pg_catalog.||) '.' \
             OPERATOR(pg_catalog.||) pg_catalog.quote_ident({c}.relname)"
        )
    };
    let sql = format!(
        "SELECT {}, {}, c.relname, s.relname FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
         JOIN pg_catalog.pg_index si ON si.indrelid OPERATOR(pg_catalog.=) i.indrelid \
         AND si.indexrelid OPERATOR(pg_catalog.<>) i.indexrelid \
         JOIN pg_catalog.pg_class s ON s.oid OPERATOR(pg_catalog.=) si.indexrelid \
         JOIN pg_catalog.pg_namespace sn ON sn.oid OPERATOR(pg_catalog.=) s.relnamespace \
         WHERE NOT i.indisvalid AND {scope} ORDER BY 1, 2",
        qualified("n", "c"),
        qualified("sn", "s"),
    );
    let messages = client.simple_query(&bounded(&sql))?;
    let mut copies: Vec<(&InvalidIndex, String)> = Vec::new();
    for m in &messages {
        let SimpleQueryMessage::Row(row) = m else {
            continue;
        };
        let (Some(copy), Some(of), Some(rebuilt)) = (row.get(2), row.get(3), row.get(1)) else {
            continue;
        };
        let found = invalid
            .iter()
            .find(|i| Some(i.qualified.as_str()) == row.get(0));
        let Some(found) = found.filter(|_| left_by_rebuild_of(copy, of)) else {
            continue;
        };
        // A copy sits beside several indexes of its table: it is named once.
        if !copies.iter().any(|(c, _)| *c == found) {
            copies.push((found, rebuilt.to_string()));
        }
    }
    Ok(copies)
}

/// Whether `name` is one a concurrent rebuild gives a copy ([`left_by_rebuild_of`] of some
/// index): what makes [`index_rebuilt_again`] read which index it is a copy of.
fn rebuild_copy_name(name: &str) -> bool {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    stem.ends_with("_ccnew") || stem.ends_with("_ccold")
}

/// A relation's name (`schema.name`, or `name` alone: found by the session's `search_path`)
/// as the text literal `to_regclass` reads, each part quoted: the one spelling of a name a
/// statement gives in our catalog reads.
fn relation_literal(schema: Option<&str>, name: &str) -> String {
    let part = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let name = match schema {
        Some(schema) => format!("{}.{}", part(schema), part(name)),
        None => part(name),
    };
    crate::ledger::literal(&name)
}

/// Whether `name` is one the server gives, in a `REINDEX ... CONCURRENTLY` of the index `of`,
/// to the new copy it builds (`<of>_ccnew`) or to the old index it drops once swapped
/// (`<of>_ccold`): `ChooseRelationName`'s, `of` cut (at a character's end) so that the name
/// fits in 63 bytes, a number added when the name is taken (`<of>_ccnew1`).
fn left_by_rebuild_of(name: &str, of: &str) -> bool {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    ["_ccnew", "_ccold"].iter().any(|label| {
        stem.strip_suffix(label).is_some_and(|base| {
            // What the server keeps of `of` beside this suffix (label and number).
            let room = 63usize.saturating_sub(name.len() - base.len());
            let mut end = room.min(of.len());
            while !of.is_char_boundary(end) {
                end -= 1;
            }
            base == &of[..end]
        })
    })
}

/// The INVALID index (of `before`) that statement `index` of `file`, which succeeded, should
/// have built and did not: a `CREATE INDEX ... IF NOT EXISTS` that found it there and skipped
/// it. Checked after the statement, with the session the file's earlier statements left (its
/// `search_path`); an index an earlier statement dropped and this one built is valid, not
/// this.
fn build_skipped<'i>(
    client: &mut Client,
    settings: &ApplySettings,
    file: &SqlFile,
    index: usize,
    before: &'i [InvalidIndex],
) -> Result<Option<&'i InvalidIndex>, postgres::Error> {
    if before.is_empty() {
        return Ok(None);
    }
    let Some(text) = file
        .statements
        .get(index)
        .and_then(|span| file.text.get(span.range.clone()))
    else {
        return Ok(None);
    };
    let Some(found) = index_built_again(client, &|sql| reading(settings, sql), text, before)?
    else {
        return Ok(None);
    };
    Ok(invalid_indexes(client, settings)?
        .contains(found)
        .then_some(found))
}

/// A no-transaction step stopped after a `CREATE INDEX ... IF NOT EXISTS` skipped `index`,
/// which an interrupted build left INVALID.
fn skipped_build(settings: &ApplySettings, step: &Step<'_>, index: &InvalidIndex) -> StepFailure {
    let error = Error::new(
        ErrorKind::MigrationFailed,
        format!(
            "migration {} did not build index {}: `IF NOT EXISTS` skipped it, and it is INVALID",
            step.migration.id(),
            index.qualified
        ),
    )
    .with_detail(interrupted_build(index, &Meets::Builds));
    // The statement ran: the run's start marker stays.
    drop_then_again(step, index, error, marked(settings))
}

/// The command that runs `step` once an INVALID index it stopped at is dropped: `migrate up`
/// (`migrate down`), with `--rerun-interrupted` when `left` (its start marker stays).
fn again_after_drop(step: &Step<'_>, left: bool) -> String {
    let again = match step.direction {
        Direction::Up => "migrate up",
        Direction::Down => "migrate down",
    };
    match left {
        true => format!("{again} --rerun-interrupted"),
        false => again.to_string(),
    }
}

/// `error` about the INVALID `index` of `step`, with the help that drops it and runs the
/// command again (`--rerun-interrupted` when `left`: the step's start marker stays); the file
/// is not to blame.
fn drop_then_again(step: &Step<'_>, index: &InvalidIndex, error: Error, left: bool) -> StepFailure {
    let again = again_after_drop(step, left);
    StepFailure {
        error: error.with_help(drop_index_then(&index.qualified, &again)),
        location: None,
        server: None,
        unknown_fate: 0,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// The help of a run that an INVALID index (`schema.name`) stops, the plan's words
/// ([`crate::plan::drop_invalid_index_then`]): drop it, then run `again`.
fn drop_index_then(qualified: &str, again: &str) -> String {
    crate::plan::drop_invalid_index_then(qualified, again)
}

/// The partition that statement `index` (0-based) of `file`, an `ALTER TABLE ... DETACH
/// PARTITION ... CONCURRENTLY` that failed or was cancelled, names and that is pending detach
/// from the table it names, as the session's `search_path` (the file's own) finds them; `None`
/// for any other statement, or when it is not pending (or it cannot be asked: a server before
/// PostgreSQL 14 has no such state). Read with the bounds of an explanation. The statement's
/// own [`invalid_index_of_file`]: it commits part of itself, as a `CREATE INDEX CONCURRENTLY`
/// does.
fn pending_detach(client: &mut Client, file: &SqlFile, index: usize) -> Option<PendingDetach> {
    pending_detach_bounded(client, &crate::db::explaining, file, index)
        .ok()
        .flatten()
}

/// [`pending_detach`], its read begun by `bounded`: the one reading of which partition a
/// statement of a file left pending detach, the engine's after a failure and the interrupted
/// help's ([`left_behind`]). No round trip for a statement that is no such detach.
fn pending_detach_bounded(
    client: &mut Client,
    bounded: Bounds<'_>,
    file: &SqlFile,
    index: usize,
) -> Result<Option<PendingDetach>, postgres::Error> {
    let Some(text) = (file.statements.get(index)).and_then(|s| file.text.get(s.range.clone()))
    else {
        return Ok(None);
    };
    let Some((table, partition)) = crate::files::rules::concurrently_detached(text) else {
        return Ok(None);
    };
    let qualified = |alias: &str| {
        format!(
            "pg_catalog.quote_ident({alias}n.nspname) OPERATOR(pg_catalog.||) '.' \
             OPERATOR(pg_catalog.||) pg_catalog.quote_ident({alias}c.relname)"
        )
    };
    let sql = format!(
        "SELECT {}, {} FROM pg_catalog.pg_inherits i \
         JOIN pg_catalog.pg_class pc ON pc.oid OPERATOR(pg_catalog.=) i.inhparent \
         JOIN pg_catalog.pg_namespace pn ON pn.oid OPERATOR(pg_catalog.=) pc.relnamespace \
         JOIN pg_catalog.pg_class cc ON cc.oid OPERATOR(pg_catalog.=) i.inhrelid \
         JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) cc.relnamespace \
         WHERE i.inhdetachpending \
         AND i.inhrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass({}::pg_catalog.text) \
         AND i.inhparent OPERATOR(pg_catalog.=) pg_catalog.to_regclass({}::pg_catalog.text)",
        qualified("p"),
        qualified("c"),
        relation_literal(partition.schema.as_deref(), &partition.name),
        relation_literal(table.schema.as_deref(), &table.name),
    );
    let messages = client.simple_query(&bounded(&sql))?;
    Ok(messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(PendingDetach::new(
            row.get(0)?.to_string(),
            row.get(1)?.to_string(),
            index + 1,
            file.statements.len(),
        )),
        _ => None,
    }))
}

/// The text of statement `index` (0-based) of `file`, when it is a `DROP INDEX`
/// ([`crate::files::rules::dropped_indexes`], the one reading of one).
fn drop_statement(file: &SqlFile, index: usize) -> Option<&str> {
    let text = file.text.get(file.statements.get(index)?.range.clone())?;
    crate::files::rules::dropped_indexes(text).map(|_| text)
}

/// Whether statement `index` (0-based) of `file` is a `DROP INDEX`: an index it leaves INVALID
/// was being dropped, not built ([`unfinished_drop_bounded`]).
fn drops_index(file: &SqlFile, index: usize) -> bool {
    drop_statement(file, index).is_some()
}

/// The INVALID index of `invalid` that statement `index` (0-based) of `file`, a `DROP INDEX`,
/// names, in the schema the statement names or, unqualified, where the session's
/// `search_path` finds it (as the server found it): what a `DROP INDEX CONCURRENTLY` cut
/// part-way (failed, cancelled, its client killed) left — its first transaction marks the
/// index INVALID and commits before it waits for the sessions using its table. `None` for any
/// other statement. The one reading of it: the engine's after the statement failed (its
/// marker stays, [`marker_left`]) and what a run left part-way left ([`left_behind`]: `status`,
/// the refusals of `up` and `down`). Its read (only for a name `invalid` has) is begun by
/// `bounded`.
fn unfinished_drop_bounded<'i>(
    client: &mut Client,
    bounded: Bounds<'_>,
    file: &SqlFile,
    index: usize,
    invalid: &'i [InvalidIndex],
) -> Result<Option<&'i InvalidIndex>, postgres::Error> {
    if invalid.is_empty() {
        return Ok(None);
    }
    let Some(names) = drop_statement(file, index).and_then(crate::files::rules::dropped_indexes)
    else {
        return Ok(None);
    };
    for dropped in names {
        if !invalid.iter().any(|i| i.name == *dropped.name) {
            continue;
        }
        let schema = match dropped.schema {
            Some(schema) => Some(schema.into_owned()),
            None => table_schema(client, bounded, &dropped.name)?,
        };
        let found = (invalid.iter())
            .find(|i| i.name == *dropped.name && schema.as_deref() == Some(i.schema.as_str()));
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The index a failed statement `index` (0-based) of `file`, a `DROP INDEX CONCURRENTLY`, left
/// INVALID ([`unfinished_drop_bounded`]), read at once after the failure with the bounds of an
/// explanation, in the session the file's statements left; one INVALID before it ran (of
/// `before`) is not of this run. `None` when it cannot be read.
fn drop_left_invalid(
    client: &mut Client,
    file: &SqlFile,
    index: usize,
    before: &[InvalidIndex],
) -> Option<InvalidIndex> {
    if !drops_index(file, index) {
        return None;
    }
    let after = invalid_indexes_bounded(client, &crate::db::explaining).ok()?;
    let new: Vec<InvalidIndex> = after.into_iter().filter(|i| !before.contains(i)).collect();
    unfinished_drop_bounded(client, &crate::db::explaining, file, index, &new)
        .ok()
        .flatten()
        .cloned()
}

/// The help of a no-transaction step whose statement left `pending` pending detach (or found
/// it so): the ways on of a run left part-way with it ([`crate::plan::interrupted_ways_on`]:
/// finish the detach, then record the migration without running it — running it again would
/// detach again what is detached — once every statement after that one is run by hand; going
/// down, where no command forgets a migration without running it, attach the partition
/// again, then run the rollback again: its marker stays).
fn finalize_then(step: &Step<'_>, pending: &PendingDetach) -> String {
    ways_on_over(step, &LeftBehind::PendingDetach(pending.clone()))
}

/// The ways on of `step` left part-way by this run, its marker kept, with `left` in the
/// database ([`crate::plan::interrupted_ways_on`]: `status`' help and the refusals' too).
fn ways_on_over(step: &Step<'_>, left: &LeftBehind) -> String {
    crate::plan::interrupted_ways_on(
        step.direction == Direction::Down,
        &step.migration.version_text,
        crate::display::path_text(&step.file().path).as_ref(),
        &run_again_command(step, true),
        "",
        Some(left),
    )
}

/// What an earlier build of `index` (as the file `meets` it) left: it exists and is INVALID,
/// the build having failed (a duplicate key, a deadlock) or been interrupted (cancelled, its
/// client killed, the server restarted) — nothing tells which. The one wording of it.
fn interrupted_build(index: &InvalidIndex, meets: &Meets) -> String {
    let q = &index.qualified;
    match meets {
        Meets::Builds => format!(
            "index {q} exists and is INVALID: an earlier `CREATE INDEX CONCURRENTLY` of it failed \
             (a duplicate key, a deadlock) or was interrupted (cancelled, its client killed, the \
             server restarted), and left it unfinished"
        ),
        Meets::Rebuilds(of) => format!(
            "index {q} exists and is INVALID: an earlier concurrent rebuild of {of} (`REINDEX \
             ... CONCURRENTLY` of it, its table, its schema or the database) failed or was \
             interrupted (cancelled, its client killed, the server restarted), and left \
             it behind — the copy of {of} it was building, or the old one it was dropping; \
             rebuilding {of} again would succeed and leave it there for good"
        ),
    }
}

/// `migration ID creates index X, which exists and is INVALID` (or, a rebuild, `rebuilds
/// index X, and Y, which an earlier rebuild of it left, exists and is INVALID`): the one
/// opening of the refusals of a migration over an INVALID index, `up`'s, its dry run's and
/// `baseline`'s.
fn meets_invalid_index(id: &str, met: &IndexMet) -> String {
    let q = &met.index.qualified;
    match &met.meets {
        Meets::Builds => format!("migration {id} creates index {q}, which exists and is INVALID"),
        Meets::Rebuilds(of) => format!(
            "migration {id} rebuilds index {of}, and index {q}, which an earlier rebuild of it \
             left, exists and is INVALID"
        ),
    }
}

/// The refusal of `up` over the pending no-transaction `migration` (its id, its up file's path)
/// that would meet `met` at its start: what the engine refuses the step with
/// ([`invalid_index_left_behind`]) and what `up --dry-run` predicts. `left`: its start marker
/// stays (an earlier run's), and the command after the drop needs `--rerun-interrupted`;
/// `recorded`: what the ledger says of it. Exit 4.
pub(crate) fn refused_over_invalid_index(
    id: &str,
    path: &std::path::Path,
    met: &IndexMet,
    recorded: &str,
    again: &str,
) -> Error {
    let reason = match &met.meets {
        Meets::Builds => "an earlier `CREATE INDEX CONCURRENTLY` of it failed or was interrupted",
        Meets::Rebuilds(_) => "an earlier `REINDEX ... CONCURRENTLY` failed or was interrupted",
    };
    Error::new(
        ErrorKind::MigrationFailed,
        format!("{}: {reason}", meets_invalid_index(id, met)),
    )
    .with_detail(interrupted_build(&met.index, &met.meets))
    .with_detail(format!(
        "nothing of {} was run; {recorded}",
        crate::display::path_text(path)
    ))
    .with_help(drop_index_then(&met.index.qualified, again))
}

/// A no-transaction migration refused before it runs: it would build `index` again, which an
/// interrupted run of it left INVALID. Refused so in a run told to run it again
/// (`--rerun-interrupted`), the start marker stays, and the command to run once the index is
/// dropped keeps the flag: without it, `up` refuses the interrupted migration.
pub(super) fn invalid_index_left_behind(
    settings: &ApplySettings,
    step: &Step<'_>,
    met: &IndexMet,
    earlier: bool,
) -> StepFailure {
    // An earlier run's marker of it stays (a plan that read no markers — its ledger was
    // not there — let the step start): the run after the drop must be told to run it again,
    // or it refuses the interrupted migration.
    let left = marked(settings) && (settings.rerun_interrupted || earlier);
    let error = refused_over_invalid_index(
        &step.migration.id(),
        &step.file().path,
        met,
        ledger_state(settings, step.direction),
        &again_after_drop(step, left),
    );
    StepFailure {
        error,
        location: None,
        server: None,
        unknown_fate: 0,
        blames_file: false,
        dropped_own_statements: false,
    }
}

/// Whether the markers' table holds the marker of `step`'s version that its start would meet
/// (an earlier run's: this one has not started it), read after an INVALID index refused the step before its start.
/// Only a help depends on it: a read that fails says the markers the plan read.
fn earlier_marker_there(client: &mut Client, settings: &ApplySettings, step: &Step<'_>) -> bool {
    let table = settings.table.started_table().quoted();
    let exists = format!(
        "SELECT 1 WHERE pg_catalog.to_regclass({}) IS NOT NULL",
        crate::ledger::literal(&table)
    );
    let read = settings.send(|| {
        let rows = |messages: Vec<SimpleQueryMessage>| {
            messages
                .iter()
                .any(|m| matches!(m, SimpleQueryMessage::Row(_)))
        };
        if !rows(client.simple_query(&exists)?) {
            return Ok(false);
        }
        // The marker the step's start meets (`StartedRun::start_sql`: its version as the
        // ledger spells it).
        Ok::<_, postgres::Error>(rows(client.simple_query(&format!(
            "SELECT 1 FROM {table} WHERE version OPERATOR(pg_catalog.=) {}",
            crate::ledger::literal(step.ledger_version)
        ))?))
    });
    match read {
        Some(Ok(there)) => there,
        _ => !settings.markers_of(step, true).is_empty(),
    }
}

/// A read of ours before any statement of the no-transaction `step` ran ([`reading`]) failed
/// with `e`, and nothing of the step was run: a lost connection is one; a lock another session
/// holds on a catalog, waited for as long as the command's lock wait, is exit 6 naming the
/// sessions holding a lock that a read waits for ([`crate::db::lock::read_lock_holders`]: the
/// server does not say which catalog); any other refusal is the server's error it is.
fn read_before_statements_failed(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    e: postgres::Error,
) -> StepFailure {
    if is_connection_lost(&e) {
        return lost_part_way(settings, step, e, 0, false);
    }
    let id = step.migration.id();
    let nothing = format!(
        "nothing of {} was run; {}",
        crate::display::path_text(&step.file().path),
        ledger_state(settings, step.direction)
    );
    let server = crate::error::ServerError::of(&e);
    let cause = crate::db::cause_text(&e);
    let error = if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
        let holders = crate::db::lock::read_lock_holders(client, None, MAX_CATALOG_HOLDERS)
            .unwrap_or_default();
        let (kind, message, help) = catalog_locked_words(
            settings,
            &format!("migration {id} was not run: reading the catalogs before it waited"),
            &holders,
        );
        let mut error = Error::new(kind, message);
        for holder in &holders {
            error = error.with_detail(format!("held by {holder}"));
        }
        error
            .with_detail(nothing)
            .with_help(help)
            .with_source_shown(e, cause)
            .with_reason(crate::error::Reason::Lock {
                database: None,
                holders,
            })
    } else {
        Error::connection(format!(
            "migration {id} was not run: the server refused reading the catalogs before it"
        ))
        .with_source_shown(e, cause)
        .with_detail(nothing)
    };
    StepFailure {
        server,
        ..StepFailure::of(error)
    }
}

/// Runs a no-transaction step: each statement of the file (as cut when it was read) on its
/// own, then its ledger row. What the server says during its statements goes to the run's
/// `notices`.
pub(super) fn run_statements(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    notices: &mut Collector,
) -> Result<StepOutcome, StepFailure> {
    let start = Instant::now();
    let file = step.file();
    // Every message of the step is one of the run (`settings.send`): named while it waits for
    // another session's lock (a catalog read too: `VACUUM FULL pg_class` holds one), cancelled
    // by a stop; the row after its statements is watched, never cancelled. Only the failure
    // paths' own messages (`ROLLBACK`, the session's reset, what a failure asks) are not.
    let read = settings.send(|| {
        let before = invalid_indexes(client, settings)?;
        let recreated = invalid_index_recreated(client, settings, step, &before)?;
        Ok::<_, postgres::Error>((before, recreated))
    });
    let Some(read) = read else {
        return Err(stopped(step, None));
    };
    let (before, recreated) = match read {
        Ok(read) => read,
        Err(e) if settings.stopped() => return Err(stopped_before_statements(step, e)),
        Err(e) => return Err(read_before_statements_failed(client, settings, step, e)),
    };
    if let Some(met) = &recreated {
        let earlier = marked(settings) && earlier_marker_there(client, settings, step);
        return Err(invalid_index_left_behind(settings, step, met, earlier));
    }
    try_row(client, settings, step)?;
    let (fresh, kept) = start_marker(client, settings, step)?;
    // From here on this run's start marker is there: a stop deletes it (nothing ran).
    let read = settings.send(|| {
        super::sql::ledger_oid_now(client, &settings.table, &|sql| reading(settings, sql))
    });
    let ledger_oid = match read {
        Some(Ok(oid)) => oid,
        Some(Err(e)) if !settings.stopped() => {
            let failure = read_before_statements_failed(client, settings, step, e);
            return Err(settle_unless_committed(
                client, settings, step, failure, 0, fresh,
            ));
        }
        _ => return Err(stopped_between(client, settings, step, 0, &before, fresh)),
    };
    let reset = format!("{RESET_SESSION} {}", timeouts_sql(settings, false));
    match settings.send(|| client.batch_execute(&reset)) {
        Some(Ok(())) => {}
        Some(Err(e)) if !settings.stopped() => {
            return Err(lost_part_way(settings, step, e, 0, false))
        }
        _ => return Err(stopped_between(client, settings, step, 0, &before, fresh)),
    }
    let count = file.statements.len();
    // The statement (1-based) after which the tracking table was first found gone
    // ([`between_statements`]): it was dropped while that one ran, by it or by another session.
    let mut ledger_gone_after = None;
    for (index, span) in file.statements.iter().enumerate() {
        // Its line and column are found from its place in the file: a statement may start
        // mid-line, the first after a byte-order mark (never sent).
        let mut script = Script::new();
        script.push_statement(file, span.range.clone());
        let sent_at = Instant::now();
        let sent = notices.collect(|| settings.send(|| script.send_alone(client)));
        let Some(sent) = sent else {
            return Err(stopped_between(
                client, settings, step, index, &before, fresh,
            ));
        };
        if let Err(e) = sent {
            if is_connection_lost(&e) {
                return Err(lost_part_way(settings, step, e, index, true));
            }
            let statement = Statement {
                index: index + 1,
                count,
                line: span.line,
            };
            let mut failure = sql_failure(settings, step, &script, None, e, Some(statement));
            // What cancelled it is said here, before [`statement_failed`] adds what the
            // statements before it committed: the one place of that clause, for every way a
            // statement fails (the runner's own `cancelled` leaves no-transaction steps alone).
            failure = cancelled(client, settings, step, failure, sent_at.elapsed());
            failure = lock_timed_out(client, settings, step, failure);
            if settings.stopped() {
                // Cancelled: said as such, and what it committed is said below.
                failure = interrupted(step, failure);
            }
            // A `DO` or `CALL` may have committed part of itself before it failed: then the
            // statements up to it, not before it, may have changed the database.
            let inside = commits_inside(file, index);
            // Cut part-way (`DETACH PARTITION ... CONCURRENTLY`): what it committed is
            // named, and the migration stays interrupted, its marker kept.
            let pending = settings
                .scratch
                .is_none()
                .then(|| pending_detach(client, file, index))
                .flatten();
            // Cut part-way (`DROP INDEX CONCURRENTLY`): its index is left INVALID, named, and
            // the migration stays interrupted, its marker kept, so that `status` names it.
            let dropped = settings
                .scratch
                .is_none()
                .then(|| drop_left_invalid(client, file, index, &before))
                .flatten();
            // Answered with an error, the statement's own transaction rolled back: what the
            // marker says of it from now on (not a `DO` or `CALL` that may commit inside, nor a
            // detach or a drop cut part-way, which committed its first transaction).
            if failure.server.is_some() && !inside && pending.is_none() && dropped.is_none() {
                record_refused(client, settings, step, index);
            }
            let failure = statement_failed(
                client,
                settings,
                step,
                failure,
                index,
                (&before, pending.as_ref(), dropped.as_ref()),
                fresh,
                inside,
            );
            if pending.is_some() || dropped.is_some() {
                return Err(failure);
            }
            return Err(settle_unless_committed(
                client,
                settings,
                step,
                failure,
                index + usize::from(inside),
                fresh,
            ));
        }
        // `IF NOT EXISTS` skipped an index an interrupted build left INVALID: recording the
        // migration would claim an index that was never built. A catalog read, a message of the
        // run: stopped, it is not made, and the next statement is not sent either.
        match (settings.send(|| build_skipped(client, settings, file, index, &before)))
            .unwrap_or(Ok(None))
        {
            Ok(None) => {}
            Ok(Some(invalid)) => {
                let failure = skipped_build(settings, step, invalid);
                record_stopped_after(client, settings, step, index + 1);
                return Err(statement_failed(
                    client,
                    settings,
                    step,
                    failure,
                    index + 1,
                    (&before, None, None),
                    fresh,
                    false,
                ));
            }
            Err(e) if is_connection_lost(&e) => {
                return Err(lost_part_way(settings, step, e, index + 1, false))
            }
            // The check could not be made (the file's own settings refused it): the server
            // accepted the statement, as without it.
            Err(_) => {}
        }
        // Checked before the next statement (or the row) is sent: how the session reads SQL
        // (`client_encoding`, `standard_conforming_strings`), the migration lock, and the start
        // marker advanced — one message between two statements.
        let marker = (fresh, &kept);
        let gone = between_statements(
            client,
            settings,
            step,
            index + 1,
            &before,
            marker,
            ledger_oid,
        )?;
        if gone && ledger_gone_after.is_none() {
            ledger_gone_after = Some(index + 1);
        }
    }
    let elapsed = start
        .elapsed()
        .as_millis()
        .min(i32::MAX as u128)
        .to_string();
    // One message, one implicit transaction, begun with what the migration's own `SET`s left
    // in the session: the reset comes too late for how the transaction started, so it is made
    // read-write again (a `SET default_transaction_read_only = on` in the migration would
    // refuse its own row; a standby was refused before anything ran). Our bound comes first
    // after the reset, which gave the session the connection's `statement_timeout`.
    // The start marker goes with the row: both commit, or neither.
    // Only where the markers' table still is: one another session (or a statement of the
    // migration) dropped meanwhile has no marker left to settle, and must not fail the row of
    // a migration whose statements all committed (reported as a dropped ledger, h20 F11).
    let settle = match marked(settings) {
        true => StartedRun::settle_any_sql(&settings.table, &settings.markers_of(step, true)),
        false => String::new(),
    };
    // Our bound before the reset too: the server arms each statement's timer with the
    // `statement_timeout` in force when it starts, and the reset's statements ran under one the
    // migration set (`SET statement_timeout = '1ms'`) — a `RESET ALL` over many settings it
    // left was cancelled, the migration, every statement committed, unrecorded.
    // Last, our bound for the session again: the statements ran under the connection's
    // (`WRITING_SESSION_BOUND`).
    let record = format!(
        "{bound} {RESET_SESSION} {bound} SET TRANSACTION READ WRITE; {}{}{}{} {settle} {}; {}",
        ledger_lock_wait_sql(settings),
        lock_check_sql(settings),
        drop_session_objects(file),
        // Each of the migration's statements committed: no transaction-level lock is left.
        release_advisory_locks(file),
        record_sql(&settings.table, step, &elapsed, ledger_oid),
        super::sql::WRITING_SESSION_BOUND,
        bound = crate::db::OWN_STATEMENT_BOUNDS,
    );
    // Sent even when the run is stopped meanwhile, never cancelled: the statements committed
    // and their row must follow; what it waits for is named all the same.
    if let Err(e) = settings.send_watched(|| client.batch_execute(&record)) {
        if is_connection_lost(&e) {
            return Err(lost_part_way(settings, step, e, count, false));
        }
        // Every statement committed, the row did not: the marker says so, not that the last
        // statement may have.
        record_stopped_after(client, settings, step, count);
        // A lock on the tracking table or on the row, held past the command's lock wait.
        let holders = ledger_lock_holders(client, settings, step, &e);
        let dropped = super::failure::record_found_ledger_dropped(&e);
        let mut script = Script::new();
        script.push_sql(&record);
        let mut f = super::failure::record_failure(settings, step, &script, e);
        let up = step.direction == Direction::Up;
        if dropped {
            // Found gone after a statement, or else during the last one: either way, no record
            // of ours tells a drop by the statement from one by another session meanwhile.
            f.error.message =
                dropped_during(settings, step, ledger_gone_after.unwrap_or(count), count);
        }
        if !holders.is_empty() {
            // Going up, its help records the migration without running it again.
            f = ledger_locked(settings, step, f, holders, true);
            if let Some(help) = f
                .error
                .help
                .as_mut()
                .filter(|_| settings.scratch.is_none() && !up && settings.in_fleet)
            {
                help.push_str(&format!("; {}", committed_stays(settings, step)));
            }
        } else if up && settings.scratch.is_none() && !dropped {
            let record = super::failure::record_without_running(step);
            f.error.help = Some(match f.error.help.take() {
                Some(help) => format!("{help}; {record}"),
                None => record,
            });
        }
        f.error = f.error.with_detail(if dropped {
            "every statement was committed, and the tracking table is gone with every row of \
             it: no migration is recorded any more"
                .to_string()
        } else {
            format!(
                "every statement was committed, but {}",
                ledger_state(settings, step.direction)
            )
        });
        return Err(f);
    }
    Ok(StepOutcome {
        duration: Some(start.elapsed()),
        attempts: 1,
    })
}

/// Whether a run marks the no-transaction migrations it starts: on the database the command
/// is about, never on a scratch database (`verify`, `drift`), which is dropped with whatever a
/// migration committed there.
fn marked(settings: &ApplySettings) -> bool {
    settings.scratch.is_none()
}

/// Deletes the start markers of applies that a full apply recorded since made out of date
/// (`versions`, [`crate::plan::superseded_markers`]), in a transaction of their own, under the
/// migration lock the writing command (`up`, `down`) holds; nothing is sent when there is
/// none, the common case. Best effort: such a marker changes nothing while its row stands
/// (`status` calls it stale), so a failure (a lock on the markers' table held past the
/// ledger's wait) is rolled back and the command goes on; a later writing run deletes it.
pub(crate) fn clear_superseded(client: &mut Client, settings: &ApplySettings, versions: &[&str]) {
    if versions.is_empty() {
        return;
    }
    let settle = format!(
        "{};",
        StartedRun::settle_applies_sql(&settings.table, versions)
    );
    if client
        .batch_execute(&marker_transaction(settings, &settle))
        .is_err()
    {
        let _ = client.batch_execute("ROLLBACK");
    }
}

/// A transaction of the marker's own, committed durably (whatever the session's
/// `synchronous_commit`) and read-write (whatever a file's `default_transaction_read_only`),
/// around `sql`, waiting for locks no longer than the ledger's row would.
fn marker_transaction(settings: &ApplySettings, sql: &str) -> String {
    marker_transaction_waiting(&ledger_lock_wait_sql(settings), sql)
}

/// [`marker_transaction`], waiting for a lock as `lock_wait` (`SET LOCAL lock_timeout ...`)
/// says.
fn marker_transaction_waiting(lock_wait: &str, sql: &str) -> String {
    format!(
        "BEGIN; SET TRANSACTION READ WRITE; {} SET LOCAL synchronous_commit = on; {lock_wait} \
         {sql} COMMIT;",
        crate::db::OWN_STATEMENT_BOUNDS,
    )
}

/// Records durably, before its first statement runs, that this run starts the no-transaction
/// `step` ([`StartedRun`]): a run killed or disconnected part-way leaves the marker, which
/// `status` shows and `up`/`down` refuse. A marker an earlier run left refuses the step, with
/// nothing run, unless the run was told to run it again ([`ApplySettings::rerun_interrupted`]),
/// which replaces it. Returns whether the marker is this run's own (none was there before):
/// only then may a failure with nothing committed delete it; and what the marker records
/// that a marker made again keeps ([`marker_gone`]): the start ([`StartedRun::STARTED_NOW`])
/// and what the earlier runs it replaces committed ([`StartedRun::keep_earlier_sql`], read
/// back from the earlier run's row, which the start reads after keeping them).
fn start_marker(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
) -> Result<(bool, MarkerKept), StepFailure> {
    if !marked(settings) {
        return Ok((true, MarkerKept::default()));
    }
    let m = step.migration;
    let direction = match step.direction {
        Direction::Up => "up",
        Direction::Down => "down",
    };
    // The other markers of its version go first: their table exists, they were read there.
    let foreign = foreign_markers(settings, step);
    let clear = match foreign.is_empty() {
        true => String::new(),
        false => format!("{}; ", StartedRun::settle_sql(&settings.table, &foreign)),
    };
    let sql = marker_transaction(
        settings,
        &format!(
            "{clear}{} SELECT {};",
            StartedRun::start_sql(
                &settings.table,
                step.ledger_version,
                &m.name,
                direction,
                &m.up.checksum,
                step.file().statements.len(),
                settings.rerun_interrupted,
            ),
            StartedRun::STARTED_NOW,
        ),
    );
    // A message of the run, as the trial row: named while it waits for a lock on the markers'
    // table, cancelled by a stop (nothing of the migration ran yet).
    let Some(sent) = settings.send(|| client.simple_query(&sql)) else {
        return Err(stopped(step, None));
    };
    let messages = match sent {
        Ok(messages) => messages,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK");
            if is_connection_lost(&e) {
                return Err(lost_part_way(settings, step, e, 0, false));
            }
            if settings.stopped() {
                return Err(stopped_before_statements(step, e));
            }
            let holders = ledger_lock_holders(client, settings, step, &e);
            let refused = e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
            // Only our own SQL is in the marker's transaction: its lock timeout is the
            // command's lock wait's, never the migration's `lock_timeout`.
            let timed_out = e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE);
            // A table of the markers' name that is not confiture's (a migration of this run
            // made it, after the plan read the markers): said as that read says it.
            let foreign = crate::db::ledger::is_foreign_markers_table(&e);
            // Another refusal by the server (not a privilege, a lock or the table's name
            // taken): an event trigger the marker's `CREATE TABLE` set off, when there is one.
            let triggers = match (refused, timed_out, foreign, e.as_db_error().is_some()) {
                (false, false, false, true) => super::failure::event_triggers(client),
                _ => Vec::new(),
            };
            let mut script = Script::new();
            script.push_sql(&sql);
            let mut f = super::failure::record_failure(settings, step, &script, e);
            let locked = !holders.is_empty();
            if locked {
                f = ledger_locked(settings, step, f, holders, false);
            } else if timed_out {
                // The holder was gone when asked.
                f.error.kind = crate::error::ErrorKind::LockTimeout;
                f.error.help = Some(format!(
                    "another session held a lock on {} for longer than {} (the command's lock \
                     wait); run {} (or raise --lock-wait)",
                    settings.table.started_table(),
                    crate::db::backoff::human(settings.ledger_lock_wait),
                    crate::hint::AGAIN
                ));
            }
            if refused {
                let started = settings.table.started_table();
                // The role refused, as the server knows it (the marker's transaction was
                // rolled back: the session can ask).
                let grant = match crate::db::snapshot::current_role(client) {
                    Ok(role) => crate::db::ledger::grant_to(
                        "SELECT, INSERT, UPDATE, DELETE",
                        &started.quoted(),
                        &role,
                    ),
                    Err(_) => format!(
                        "{} with the role of the environment for ROLE",
                        crate::db::ledger::grant_to(
                            "SELECT, INSERT, UPDATE, DELETE",
                            &started.quoted(),
                            "ROLE"
                        )
                    ),
                };
                f.error.help = Some(format!(
                    "the role needs the table {started} beside the tracking table, and the \
                     right to write it: have the schema's owner create it once and grant it \
                     ({}; {grant}), then run {}",
                    StartedRun::create_sql(&settings.table),
                    crate::hint::AGAIN
                ));
            }
            if !triggers.is_empty() && !locked {
                f.error.help = Some(super::failure::event_trigger_help(
                    &triggers,
                    &settings.table.started_table().to_string(),
                    crate::hint::AGAIN,
                ));
            } else if !refused && !timed_out && !locked {
                // The row's help, about the table the row goes into: the markers', not the
                // ledger's.
                let started = settings.table.started_table();
                f.error.help = Some(format!(
                    "check that {started} has confiture's columns, that this role may write it \
                     and that no trigger of it refuses the row (`\\d {started}` in psql lists \
                     them), then run {}",
                    crate::hint::AGAIN
                ));
            }
            f.error.message = format!(
                "cannot record that migration {} starts in {}, beside the tracking table; \
                 it was not run",
                m.id(),
                settings.table.started_table()
            );
            f.error = f.error.with_detail(
                "it runs without a transaction: a run marks it started before its first \
                 statement, so that one killed part-way is known",
            );
            if foreign {
                let (what, help) = crate::db::ledger::foreign_markers_table(&settings.table);
                f.error.kind = crate::error::ErrorKind::Invalid;
                f.error = f.error.with_detail(what);
                f.error.help = Some(help);
            }
            return Err(f);
        }
    };
    // The earlier run's marker, when there is one, then the start's one column.
    let rows = messages.iter().filter_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let started_at = (rows.clone())
        .find(|row| row.len() == 1)
        .and_then(|row| row.get(0).map(str::to_string));
    let earlier = (rows.clone())
        .find(|row| row.len() > 1)
        .map(|row| StartedRun::read(|i| row.get(i).map(str::to_string)));
    let kept = |earlier: Option<&StartedRun>| MarkerKept {
        started_at,
        earlier_committed: earlier.map_or(0, |e| e.earlier_committed),
        earlier_unsure: earlier.and_then(|e| e.earlier_unsure),
    };
    match earlier {
        None => Ok((true, kept(None))),
        Some(earlier) if settings.rerun_interrupted => Ok((false, kept(earlier.as_ref().ok()))),
        Some(Ok(earlier)) => Err(interrupted_before(step, &earlier)),
        // A marker made unreadable since the ledger read is refused as that read refuses it.
        Some(Err(unusable)) => Err(StepFailure::of(crate::db::ledger::unusable_marker(
            &settings.table.started_table(),
            &unusable,
        ))),
    }
}

/// The markers of `step`'s version that the plan accepted and the step's own start replaces
/// ([`ApplySettings::markers_of`]): every one but the marker spelled like the step in its
/// direction, which the start reads (an earlier run's, refused unless run again on purpose) —
/// another spelling of the version (`002` for `0002`), or a marker of the other direction the
/// ledger contradicts (a rollback a person finished by hand, its row deleted).
fn foreign_markers<'s>(settings: &'s ApplySettings, step: &Step<'s>) -> Vec<&'s str> {
    let direction = match step.direction {
        Direction::Up => "up",
        Direction::Down => "down",
    };
    let own = |v: &str| {
        v == step.ledger_version
            && settings
                .markers
                .iter()
                .any(|m| m.version == v && m.direction == direction)
    };
    (settings.markers_of(step, false).into_iter())
        .filter(|v| !own(v))
        .collect()
}

/// The refusal of a no-transaction `step` an earlier run started and never recorded nor
/// settled (`earlier`, its marker): running it again blindly would run again what it
/// committed. Nothing was run (exit 7: a human decides); the help says what is known and the
/// safe ways on ([`crate::plan::interrupted_refusal`], the plan's own refusal).
fn interrupted_before(step: &Step<'_>, earlier: &StartedRun) -> StepFailure {
    let mark = crate::history::Marked {
        migration: step.migration,
        marker: earlier,
        down: earlier.direction == "down",
    };
    let error =
        crate::plan::interrupted_refusal(&mark, step.direction, &run_again_command(step, true));
    StepFailure::of(error)
}

/// What a no-transaction step sends between statement `next - 1` (0-based), which succeeded,
/// and statement `next`, or its row when `next` is the last: one message, one transaction,
/// committed durably before anything more is sent ([`between_statements_sql`]). It reads
/// the session's `client_encoding` and `standard_conforming_strings` (a statement that changed
/// one stops the migration before the server reads the next message with it,
/// [`check_reading`], [`reading_changed_at`]), checks that the
/// session still holds the migration lock (one that released it stops the migration before
/// the next statement runs unprotected; the last is followed by the check before its row), and
/// advances the start marker to statement `next` (every one before it committed) — only
/// while the session still reads SQL as sent, so that the marker never says a statement is sent
/// that the run stops before.
///
/// Before the row only those settings are read, alone ([`checks_alone`]): the row's message names
/// the ledger, whose name the server must read in the right encoding, and checks the lock
/// itself.
///
/// A message of the run: stopped before it or while it waited, the next statement is not
/// sent. Refused, it is rolled back and its checks are made again one by one
/// ([`checks_alone`]), which say which refused: a marker that could not be advanced (the
/// markers' table locked past the ledger's lock wait) stays as it was, behind what is known —
/// not worth stopping for.
fn between_statements(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    next: usize,
    before: &[InvalidIndex],
    (fresh, kept): (bool, &MarkerKept),
    ledger_oid: Option<u32>,
) -> Result<bool, StepFailure> {
    if next >= step.file().statements.len() {
        return checks_alone(client, settings, step, next, before, fresh).map(|()| false);
    }
    let sql = between_statements_sql(settings, step, next, ledger_oid);
    let e = match settings.send(|| client.simple_query(&sql)) {
        None => return Err(stopped_between(client, settings, step, next, before, fresh)),
        Some(Ok(messages)) => {
            reading_of(&messages).map_err(|changed| {
                let failure = reading_changed_at(settings, step, changed, next);
                failed_between(client, settings, step, failure, next, before, fresh)
            })?;
            // The session reads SQL as sent, so the advance was made unless its marker is gone.
            if marked(settings) && advanced_rows(&messages) == Some(0) {
                let gone = (false, kept);
                return Err(marker_gone(
                    client, settings, step, next, gone, before, fresh,
                ));
            }
            return Ok(ledger_gone_in(&messages));
        }
        Some(Err(e)) if is_connection_lost(&e) => {
            return Err(lost_part_way(settings, step, e, next, false))
        }
        Some(Err(e)) => e,
    };
    let _ = client.batch_execute("ROLLBACK");
    if settings.stopped() {
        drop(e);
        return Err(stopped_between(client, settings, step, next, before, fresh));
    }
    // A markers' table that is gone refused the advance: nothing would say any more that the
    // migration is part-way, so the run stops before another statement commits unmarked.
    if marked(settings) && markers_table_gone(client, settings) == Some(true) {
        let gone = (true, kept);
        return Err(marker_gone(
            client, settings, step, next, gone, before, fresh,
        ));
    }
    checks_alone(client, settings, step, next, before, fresh).map(|()| false)
}

/// Whether the replies to [`between_statements_sql`]'s message say the tracking table is gone
/// ([`super::sql::ledger_gone_select`]: its one row of one column).
fn ledger_gone_in(messages: &[SimpleQueryMessage]) -> bool {
    messages.iter().any(
        |m| matches!(m, SimpleQueryMessage::Row(row) if row.len() == 1 && row.get(0) == Some("t")),
    )
}

/// The message of a no-transaction `step` whose ledger row found the tracking table dropped:
/// found gone after statement `during` (1-based, of `count`), or before the row after the
/// last. Its statements commit one by one, so no rollback tells a drop by the statement from
/// one by another session while it ran, and nothing the run records does (the catalog is the
/// same after either): the message says both, never that the migration dropped it.
fn dropped_during(
    settings: &ApplySettings,
    step: &Step<'_>,
    during: usize,
    count: usize,
) -> String {
    format!(
        "the tracking table {} was dropped during statement {during} of {count} of {} {} — by \
         it or by another session",
        settings.table,
        match step.direction {
            Direction::Up => "migration",
            Direction::Down => "the rollback of migration",
        },
        step.migration.id(),
    )
}

/// The rows the start marker's advance updated, from the replies to
/// [`between_statements_sql`]'s message when it marks: the advance is its last statement
/// before `COMMIT`, so its count is the last but one.
fn advanced_rows(messages: &[SimpleQueryMessage]) -> Option<u64> {
    let mut counts = messages.iter().filter_map(|m| match m {
        SimpleQueryMessage::CommandComplete(n) => Some(*n),
        _ => None,
    });
    counts.next_back()?;
    counts.next_back()
}

/// Whether the start markers' table is gone ([`crate::ledger::TrackingTable::started_table`]):
/// `None` when it could not be read within an explanation's bounds.
fn markers_table_gone(client: &mut Client, settings: &ApplySettings) -> Option<bool> {
    let sql = crate::db::explaining(&format!(
        "SELECT pg_catalog.to_regclass({}) IS NULL",
        crate::ledger::literal(&settings.table.started_table().quoted())
    ));
    let messages = client.simple_query(&sql).ok()?;
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row.get(0) == Some("t")),
        _ => None,
    })
}

/// The failure of a no-transaction step whose start marker is gone before statement `next`
/// (0-based) was sent: the markers' table dropped (`dropped`) or the marker deleted — by a
/// statement of the step before it, or by another session: what committed cannot tell which.
/// Going on, a run killed after the next statement would leave the migration looking pending,
/// its committed statements unmarked: the run stops, the ledger's failure (exit 5).
///
/// Stopped, it knows where: it makes its marker again ([`restore_marker`]), saying that
/// statements up to `next` committed and the next never started, so that `status` shows the
/// migration interrupted, not pending, and `up`/`down` refuse it until a person decides; the
/// failure says whether it could (`kept`: what its marker recorded), and what
/// committed ([`statement_failed`]).
fn marker_gone(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    next: usize,
    (dropped, kept): (bool, &MarkerKept),
    before: &[InvalidIndex],
    fresh: bool,
) -> StepFailure {
    let markers = settings.table.started_table();
    let id = step.migration.id();
    let restored = match marker_left(settings, step, next) {
        true => Some(restore_marker(client, settings, step, next, kept)),
        // Nothing but the session's settings committed: nothing to hide.
        false => None,
    };
    let what = match dropped {
        true => format!("the start markers' table {markers} was dropped"),
        false => format!("its row in {markers} was deleted"),
    };
    let error = Error::new(
        ErrorKind::Invalid,
        format!(
            "{} {id} stopped before statement {} of {}: its start marker is gone ({what})",
            match step.direction {
                Direction::Up => "migration",
                Direction::Down => "the rollback of migration",
            },
            next + 1,
            step.file().statements.len(),
        ),
    )
    .with_detail(format!(
        "done by a statement of {id} before it or by another session; nothing would say any \
         more that the migration is part-way (a run killed now would leave it looking pending, \
         not interrupted), so no further statement was sent"
    ))
    .with_help(format!(
        "keep {markers} out of what {} drops or deletes (`cargo confiture lint` names what it \
         sees, C108), or find the session that did it",
        crate::display::path_text(&step.file().path),
    ));
    let error = match &restored {
        None => error,
        Some(Ok(())) => error.with_detail(format!(
            "the run made its start marker again as it stopped: {} shows {id} interrupted, and \
             the next run refuses it (exit 7) until a person decides",
            crate::hint::command("migrate status"),
        )),
        Some(Err(e)) => error.with_detail(format!(
            "its start marker could not be made again ({}): {} shows {id} pending, though \
             part of it committed (below); check what the schema has before running it again",
            crate::db::cause_text(e),
            crate::hint::command("migrate status"),
        )),
    };
    let failure = StepFailure {
        error,
        location: None,
        server: None,
        unknown_fate: 0,
        blames_file: false,
        dropped_own_statements: false,
    };
    let mut failure = statement_failed(
        client,
        settings,
        step,
        failure,
        next,
        (before, None, None),
        fresh,
        false,
    );
    // Its marker there again, the command that runs it again on purpose ends the help.
    if let (Some(Ok(())), Some(help)) = (&restored, failure.error.help.as_mut()) {
        let again = crate::hint::command(&run_again_command(step, true));
        help.push_str(&format!(", then run {again}"));
    }
    failure
}

/// The message of [`between_statements`] before statement `next` (0-based): the connecting
/// role and the lock check ([`connecting_role_and_lock_check`]), the settings' read
/// ([`READING_SQL`]), and, where the run marks ([`marked`]), the marker's advance to it,
/// made only while the session reads SQL as sent ([`reads_as_sent`]) — in a transaction of the
/// marker's own ([`marker_transaction`]); elsewhere in a transaction without
/// `statement_timeout`.
fn between_statements_sql(
    settings: &ApplySettings,
    step: &Step<'_>,
    next: usize,
    ledger_oid: Option<u32>,
) -> String {
    let checks = format!(
        "{} {READING_SQL};{}",
        connecting_role_and_lock_check(settings),
        ledger_oid
            .map(|oid| format!(" {};", super::sql::ledger_gone_select(oid)))
            .unwrap_or_default()
    );
    match marked(settings) {
        true => marker_transaction(
            settings,
            &format!(
                "{checks} {}",
                StartedRun::advance_sql(
                    &settings.table,
                    step.ledger_version,
                    next + 1,
                    &reads_as_sent()
                )
            ),
        ),
        false => format!(
            "BEGIN; {} {checks} COMMIT;",
            crate::db::OWN_STATEMENT_BOUNDS
        ),
    }
}

/// Statement `next - 1` (0-based) of a no-transaction `step` changed how the session reads
/// SQL ([`reading_changed`]): the failure is placed at that statement, the one message sent
/// since the settings were last read.
fn reading_changed_at(
    settings: &ApplySettings,
    step: &Step<'_>,
    changed: ReadingChanged,
    next: usize,
) -> StepFailure {
    let mut failure = reading_changed(settings, step, changed, false);
    let file = step.file();
    failure.location = next
        .checked_sub(1)
        .and_then(|i| file.statements.get(i))
        .map(|span| statement_start(file, span));
    failure
}

/// The checks of [`between_statements`] before statement `next` (0-based), each alone: the
/// session's encoding and strings ([`check_reading`]), then the migration lock (none before the row, whose message checks
/// it). What follows a refused message between two statements, to say which check refused;
/// before the row, the settings' read.
fn checks_alone(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    next: usize,
    before: &[InvalidIndex],
    fresh: bool,
) -> Result<(), StepFailure> {
    // Not a message of the run: `current_setting` reads the session's own state, no
    // relation, and waits for no lock.
    match check_reading(client) {
        Ok(()) => {}
        Err(SendError::ReadingChanged(changed)) => {
            let failure = reading_changed_at(settings, step, changed, next);
            return Err(failed_between(
                client, settings, step, failure, next, before, fresh,
            ));
        }
        Err(SendError::Driver(e)) if is_connection_lost(&e) => {
            return Err(lost_part_way(settings, step, e, next, false))
        }
        // Refused (the file's own `statement_timeout`, say): not checked, as without it.
        Err(SendError::Driver(_)) => {}
    }
    let count = step.file().statements.len();
    let Some(check) = lock_check_between_statements(settings).filter(|_| next < count) else {
        return Ok(());
    };
    let e = match settings.send(|| client.batch_execute(&check)) {
        Some(Ok(())) => return Ok(()),
        Some(Err(e)) if is_connection_lost(&e) => {
            return Err(lost_part_way(settings, step, e, next, false));
        }
        Some(Err(e)) => {
            let _ = client.batch_execute("ROLLBACK");
            (!settings.stopped()).then_some(e)
        }
        None => None,
    };
    // Stopped (before it, or cancelled while it waited): the next statement never runs.
    let Some(e) = e else {
        return Err(stopped_between(client, settings, step, next, before, fresh));
    };
    let mut script = Script::new();
    script.push_sql(&check);
    let failure = sql_failure(settings, step, &script, None, e, None);
    Err(failed_between(
        client, settings, step, failure, next, before, fresh,
    ))
}

/// The server answered statement `index` (0-based) of `step` with an error: its own
/// transaction was rolled back, nothing of it committed. Recorded on the run's start marker
/// ([`StartedRun::failed`]), so that what reads the marker later (`status`, the refusal of an
/// interrupted migration, `abandon`, `baseline`) says so, not that the statement may have
/// committed — which only a run gone without an answer (killed, its connection lost) leaves
/// unknown. Sent whatever the stop says, never cancelled (a cancel may be what ended the
/// statement); one that fails leaves the marker saying the statement may have committed, the
/// cautious reading.
fn record_refused(client: &mut Client, settings: &ApplySettings, step: &Step<'_>, index: usize) {
    // A marker deleted next ([`settle_unless_committed`]) needs no fate.
    if !marker_left(settings, step, index) {
        return;
    }
    let failed = StartedRun::failed_sql(&settings.table, step.ledger_version, Some(index + 1));
    let _ = send_marker_transaction(client, settings, &failed);
}

/// The run of a no-transaction `step` stops by itself after its statement `done` (1-based;
/// after the last, before its row): the server answered it without an error, and nothing more
/// of the migration is sent — one of the run's own checks refused to go on (the migration
/// lock, how the session reads SQL, the row's own checks), or the run was stopped there.
/// Recorded on the start marker ([`StartedRun::stopped_after`], set back to `done` when it was
/// advanced to the next already), so that what reads it later says that every statement up to
/// `done` committed and the next never started, not that one "was running". Sent whatever the
/// stop says, never cancelled (waiting [`SETTLE_AFTER_STOP`] at most for a lock once stopped);
/// one that fails leaves the marker as it was, the cautious reading. Nothing before the first
/// statement (`done` 0), nor on a run that marks nothing.
fn record_stopped_after(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    done: usize,
) {
    if done == 0 || !marked(settings) {
        return;
    }
    let stopped_after = format!(
        "{}; {}",
        super::sql::connecting_role(),
        StartedRun::stopped_after_sql(&settings.table, step.ledger_version, Some(done))
    );
    let _ = send_marker_transaction(client, settings, &stopped_after);
}

/// Makes again the start marker of `step`, gone (deleted, its table dropped) while the run
/// went on, once the run stopped for it after statement `done` (1-based) committed
/// ([`StartedRun::restore_sql`]): the marker is what makes the migration `interrupted` rather
/// than pending. A transaction of the marker's own, as the start's, as the connecting role;
/// never cancelled (the run is stopping), waiting [`SETTLE_AFTER_STOP`] at most for a lock once
/// stopped. `Err`: the server's refusal, which the failure names.
fn restore_marker(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    done: usize,
    kept: &MarkerKept,
) -> Result<(), postgres::Error> {
    let direction = match step.direction {
        Direction::Up => "up",
        Direction::Down => "down",
    };
    let m = step.migration;
    let restore = format!(
        "{}; {}",
        super::sql::connecting_role(),
        StartedRun::restore_sql(
            &settings.table,
            step.ledger_version,
            &m.name,
            direction,
            &m.up.checksum,
            kept,
            done,
            step.file().statements.len(),
        )
    );
    send_marker_transaction(client, settings, &restore)
}

/// Sends `sql` about a run's start marker in a transaction of the marker's own, whatever the
/// stop says, never cancelled: waiting for a lock on the markers' table as the ledger's row
/// would ([`marker_transaction`]), or, once the run is stopped, no longer than the stop's own
/// deletion of a marker does ([`SETTLE_AFTER_STOP`]), so that the stop stays within its bound.
/// One that fails is rolled back, and leaves the marker as it was. `Err`: the server's refusal.
fn send_marker_transaction(
    client: &mut Client,
    settings: &ApplySettings,
    sql: &str,
) -> Result<(), postgres::Error> {
    let sql = match settings.stopped() {
        true => marker_transaction_waiting(&wait_after_stop(), sql),
        false => marker_transaction(settings, sql),
    };
    let sent = settings.send_watched(|| client.batch_execute(&sql));
    if sent.is_err() {
        let _ = client.batch_execute("ROLLBACK");
    }
    sent
}

/// How long a stopped run waits for a lock on the start markers' table to delete its own
/// marker ([`settle_unless_committed`]), or to record that its statement failed
/// ([`record_refused`]): a stop ends within [`crate::migrator::STOP_WAIT`],
/// the statement's cancel included, saying what it left behind.
const SETTLE_AFTER_STOP: std::time::Duration = std::time::Duration::from_secs(1);

/// The lock wait of a marker's transaction once the run is stopped ([`SETTLE_AFTER_STOP`]).
fn wait_after_stop() -> String {
    format!(
        "SET LOCAL lock_timeout = '{}ms';",
        SETTLE_AFTER_STOP.as_millis()
    )
}

/// A no-transaction step failed at statement `index` (0-based): with nothing committed (the
/// statements before it, if any, only `SET` the session — [`durable_before`] — and it failed,
/// was cancelled or never sent), this run's own marker (`fresh`) is
/// deleted — the migration is pending, as before it ran. One an earlier run left stays, as
/// does any marker once a statement committed.
///
/// The deletion is a message of the run, waiting for a lock on the markers' table as the
/// marker's start did (the ledger's lock wait), named while it waits and cancelled by a stop;
/// once the run is stopped (before, or while it waited), it is tried once more, never
/// cancelled, waiting [`SETTLE_AFTER_STOP`] at most. A deletion that fails leaves the marker,
/// and the failure says so: the next run refuses the migration as interrupted until it is
/// run with `--rerun-interrupted` ([`marker_stays`]).
fn settle_unless_committed(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    failure: StepFailure,
    index: usize,
    fresh: bool,
) -> StepFailure {
    if !fresh || !marked(settings) || durable_before(step.file(), index) {
        return failure;
    }
    let settle = format!(
        "{};",
        StartedRun::settle_sql(&settings.table, &[step.ledger_version])
    );
    let sql = marker_transaction(settings, &settle);
    let mut settled = match settings.stopped() {
        true => None,
        false => settings.send(|| client.batch_execute(&sql)),
    };
    if settled.is_none() || (settings.stopped() && matches!(settled, Some(Err(_)))) {
        let _ = client.batch_execute("ROLLBACK");
        let sql = marker_transaction_waiting(&wait_after_stop(), &settle);
        settled = Some(settings.send_watched(|| client.batch_execute(&sql)));
    }
    match settled {
        Some(Err(e)) => {
            let _ = client.batch_execute("ROLLBACK");
            marker_stays(settings, step, failure, &e)
        }
        _ => failure,
    }
}

/// `failure`, of a step whose own start marker could not be deleted (`e`: another session's
/// lock on the markers' table, held past the wait; a lost session): it says the marker is
/// left, what the next run does with it — refuses the migration as interrupted (exit 7) — and
/// how to go on, since nothing of the migration committed.
fn marker_stays(
    settings: &ApplySettings,
    step: &Step<'_>,
    mut failure: StepFailure,
    e: &postgres::Error,
) -> StepFailure {
    let started = settings.table.started_table();
    let again = crate::hint::command(&run_again_command(step, true));
    failure.error = failure.error.with_detail(format!(
        "its start marker in {started} could not be deleted ({}): until it is, {} shows {} \
         interrupted and the next run refuses it (exit 7)",
        crate::db::cause_text(e),
        crate::hint::command("migrate status"),
        step.migration.id()
    ));
    let way_on = format!(
        "nothing of it committed, so {again} runs it again safely (or delete the marker: {};)",
        StartedRun::settle_sql(&settings.table, &[step.ledger_version])
    );
    failure.error.help = Some(match failure.error.help.take() {
        Some(help) => format!("{help}; {way_on}"),
        None => way_on,
    });
    failure
}

/// Before an `up` step runs: its ledger row, inserted in a transaction rolled back at once.
/// Its statements commit one by one and its row comes after them, so a ledger that refuses the
/// row (a CHECK or trigger of its own, a column or privilege the catalog read did not show)
/// must refuse it now, with nothing run, not after the statements committed, unrecorded (the
/// next `up` would run them again). A `down` step's row is a `DELETE` the read's privilege
/// check already covers.
fn try_row(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
) -> Result<(), StepFailure> {
    let Some(insert) = super::sql::row_trial(settings, step) else {
        return Ok(());
    };
    let m = step.migration;
    let trial = format!(
        "BEGIN; {} {} {insert};",
        crate::db::OWN_STATEMENT_BOUNDS,
        ledger_lock_wait_sql(settings),
    );
    // A message of the run as the statements are: a lock in the way (another session's
    // uncommitted row of this version) is named while it waits, and a stop cancels the wait.
    let Some(tried) = settings.send(|| client.batch_execute(&trial)) else {
        return Err(stopped(step, None));
    };
    // Whatever happened, the row is never kept (the rollback of an aborted transaction too).
    let rolled_back = client.batch_execute("ROLLBACK");
    let Err(e) = tried else {
        return rolled_back.map_err(|e| lost_part_way(settings, step, e, 0, false));
    };
    if is_connection_lost(&e) {
        return Err(lost_part_way(settings, step, e, 0, false));
    }
    if settings.stopped() {
        return Err(stopped_before_statements(step, e));
    }
    let holders = ledger_lock_holders(client, settings, step, &e);
    let mut script = Script::new();
    script.push_sql(&trial);
    let mut f = super::failure::record_failure(settings, step, &script, e);
    if !holders.is_empty() {
        // Tried before the statements: nothing ran, the command can simply run again.
        f = ledger_locked(settings, step, f, holders, false);
    }
    f.error.message = format!(
        "the tracking table {} refuses the row of migration {}, which was not run",
        settings.table,
        m.id()
    );
    f.error = f.error.with_detail(
        "it runs without a transaction, its row written after its statements commit: the row \
         was tried first, and rolled back",
    );
    Err(f)
}

/// `step` stopped from outside before its statement `index` (0-based) was sent — the
/// statement's own send, or a message of ours before it (the checks between statements, the
/// session's reset before the first): what the statements before it committed is said, and
/// this run's own marker is deleted when none did ([`settle_unless_committed`]).
fn stopped_between(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    index: usize,
    before: &[InvalidIndex],
    fresh: bool,
) -> StepFailure {
    let failure = stopped(step, (index > 0).then_some(index));
    let failure = failed_between(client, settings, step, failure, index, before, fresh);
    settle_unless_committed(client, settings, step, failure, index, fresh)
}

/// What to do of the statements a no-transaction migration (`step`) committed before it
/// stopped: undo them, or make its statements safe to run twice. Not the file in a fleet
/// ([`ApplySettings::in_fleet`]): other targets may have applied (or rolled back) the
/// migration with it already, and an up file edited after they applied it is modified there
/// (diverged) — what it committed is undone on this database alone.
pub(super) fn committed_stays(settings: &ApplySettings, step: &Step<'_>) -> String {
    if !settings.in_fleet {
        return "what it committed stays: undo it, or make its statements safe to run twice \
                (`IF NOT EXISTS`, `IF EXISTS`)"
            .to_string();
    }
    let id = step.migration.id();
    let (others, only) = match step.direction {
        Direction::Up => (
            format!("may have applied {id} already, and would see its file modified"),
            format!(
                "only if no database has applied {id}; {} on the fleet shows which have",
                crate::hint::command("migrate status")
            ),
        ),
        Direction::Down => (
            format!("may have rolled back {id} with the same down file"),
            "only if it fails on every target".to_string(),
        ),
    };
    format!(
        "what it committed stays: undo it on this database; do not edit its file to make its \
         statements safe to run twice: other targets of the fleet {others} (edit it {only})"
    )
}

/// The command that runs `step` again once it committed part of itself: `migrate down`, or
/// `migrate up`.
///
/// `left`: the step's start marker stays ([`StartedRun`]: a statement committed, or the run
/// was told to run it again), so the command needs `--rerun-interrupted`, without which it
/// refuses the step. That marker is also what lets the first migration of a new database
/// (no row before the step, [`super::Kept`]) run again over what it committed
/// ([`crate::ledger::Unrecorded::left_by_our_run`]); without it (nothing committed, so the
/// database is as the run found it) `migrate up --allow-non-empty`, in case this run was
/// let past the "holds objects but has no history" check by that flag.
fn run_again_command(step: &Step<'_>, left: bool) -> String {
    match (step.direction, left) {
        (Direction::Up, true) => "migrate up --rerun-interrupted",
        (Direction::Up, false) if step.kept.newest.is_none() => "migrate up --allow-non-empty",
        (Direction::Up, false) => "migrate up",
        (Direction::Down, true) => "migrate down --rerun-interrupted",
        (Direction::Down, false) => "migrate down",
    }
    .to_string()
}

/// Whether a no-transaction step that failed at statement `index` (0-based) leaves its start
/// marker: once a statement committed, or when the run was told to run it again (the marker
/// may be an earlier run's, which stays).
pub(super) fn marker_left(settings: &ApplySettings, step: &Step<'_>, index: usize) -> bool {
    marked(settings) && (durable_before(step.file(), index) || settings.rerun_interrupted)
}

/// Whether a statement of `file` before statement `index` (0-based) may have changed the
/// database: any but one that changes only the session (`SET lock_timeout`, `SET search_path`
/// ahead of a `CREATE INDEX CONCURRENTLY`, a `SELECT set_config(...)`:
/// [`crate::files::StatementSpan::session_only`], read when the file was). A migration that
/// stopped with none committed nothing: its marker goes, and it is pending as before.
fn durable_before(file: &SqlFile, index: usize) -> bool {
    file.statements
        .iter()
        .take(index)
        .any(|span| !span.session_only)
}

/// What statements 1 to `k` (at least one) of `file` committed, as a failure's detail says it:
/// those that only set session state ([`crate::files::StatementSpan::session_only`], as
/// [`durable_before`] reads them) committed nothing to undo, and are said so.
fn committed_before(file: &SqlFile, k: usize) -> String {
    let session: Vec<usize> = (file.statements.iter().take(k).enumerate())
        .filter(|(_, span)| span.session_only)
        .map(|(i, _)| i + 1)
        .collect();
    let statements = |numbers: &[usize]| match numbers {
        [one] => format!("statement {one}"),
        [before @ .., last] => format!(
            "statements {} and {last}",
            (before.iter().map(ToString::to_string))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        [] => String::new(),
    };
    let (first, were) = match k {
        1 => ("statement 1".to_string(), "was"),
        k => (format!("statements 1–{k}"), "were"),
    };
    if session.len() == k {
        return format!("{first} only set session state and committed nothing");
    }
    let all = format!("{first} {were} committed (this migration runs without a transaction)");
    if session.is_empty() {
        return all;
    }
    format!(
        "{all}; {} of them only set session state: nothing of theirs to undo",
        statements(&session)
    )
}

/// Whether statement `index` (0-based) of `file` may commit inside, a `CALL` or a `DO` block
/// that spells transaction control ([`crate::files::lexer::Statement::may_commit_inside`], the
/// lexer's rule): sent alone in autocommit, its body may `COMMIT` (a batched backfill), so
/// once it ran, even failed or cancelled, part of it may have committed.
fn commits_inside(file: &SqlFile, index: usize) -> bool {
    let Some(span) = file.statements.get(index) else {
        return false;
    };
    let Some(text) = file.text.get(span.range.clone()) else {
        return false;
    };
    crate::files::lexer::split(text)
        .statements
        .first()
        .is_some_and(|s| s.may_commit_inside())
}

/// `DO` or `CALL`, when statement `index` (0-based) of `file` is one
/// ([`commits_inside`]).
fn statement_keyword(file: &SqlFile, index: usize) -> Option<&'static str> {
    let span = file.statements.get(index)?;
    let text = file.text.get(span.range.clone())?;
    let split = crate::files::lexer::split(text);
    split.statements.first()?.may_control_transactions()
}

/// The connection was lost during a no-transaction step, after the server acknowledged its
/// first `completed` statements (all of them: while its ledger row was written), statement
/// `completed + 1` being sent when `running`: those are named, the one in flight may have
/// committed, and the help is the one of a step stopped part-way (Ctrl-C,
/// [`statement_failed`]).
fn lost_part_way(
    settings: &ApplySettings,
    step: &Step<'_>,
    e: postgres::Error,
    completed: usize,
    running: bool,
) -> StepFailure {
    let mut failure = connection_lost(settings, step, e);
    // The driver's SQLSTATE and message, else the server's word that it ended the session
    // heard under the driver (a FATAL, an immediate shutdown's WARNING): the failure's
    // (`ServerError::of`, the one place every lost connection's reason is read).
    let server = failure.server.clone();
    let count = step.file().statements.len();
    let recorded = ledger_state(settings, step.direction);
    let acknowledged = match completed {
        0 => "this run committed none of its statements".to_string(),
        k if k == count && !running => format!(
            "every statement was committed (this migration runs without a transaction); the \
             connection dropped while its ledger row was written, so {recorded} unless the \
             server wrote it"
        ),
        k => committed_before(step.file(), k),
    };
    let detail = match (running, completed == count) {
        (true, _) => format!(
            "{acknowledged}; statement {} of {count} was running when the connection dropped: it \
             may have committed; {recorded}",
            completed + 1
        ),
        (false, true) => acknowledged,
        (false, false) => format!("{acknowledged}; {recorded}"),
    };
    failure.error.details = vec![detail];
    let committed_all = completed == count && !running && step.direction == Direction::Up;
    if committed_all && settings.scratch.is_none() {
        // Applied but for its row, unless the server wrote the row: `up` would run it again.
        failure.error.help = Some(format!(
            "run {} to see whether {} is recorded (the server may have written its row); if it \
             is not applied (interrupted), {}; then {} for the migrations after it",
            crate::hint::command("migrate status"),
            step.migration.id(),
            super::failure::record_without_running(step),
            crate::hint::command("migrate up")
        ));
    } else if (durable_before(step.file(), completed) || running) && settings.scratch.is_none() {
        let again = run_again_command(step, marked(settings));
        let building = running
            .then(|| index_being_built(step.file(), completed))
            .flatten();
        failure.error.help = Some(match building {
            // The build committed its INVALID index before it waited or built: the run
            // again is refused over it (`invalid_index_left_behind`) until it is dropped.
            // Not asked: the connection is gone, so the index is said as what the build may
            // have left (a shutdown or a statement cut before its first commit leaves none).
            Some((Some(schema), name)) => naming_committed(
                step,
                format!(
                    "the build may have left its index {schema}.{name} INVALID (the server \
                     could not be asked: {} reads it once it answers); if it did, drop it, `DROP \
                     INDEX CONCURRENTLY IF EXISTS {schema}.{name};`, then run {} again; {}",
                    crate::hint::command("migrate status"),
                    crate::hint::command(&again),
                    committed_stays(settings, step)
                ),
                completed,
            ),
            // Its schema is the one the lost session's `search_path` found the table in (the
            // file's `SET search_path`, a tenant's schema): a bare name may drop another
            // schema's index. `status` reads it, qualified, with the drop to run.
            Some((None, name)) => naming_committed(
                step,
                format!(
                    "that statement may have left its unfinished index {name} INVALID (the \
                     server could not be asked) — {} reads it, names it with its schema and the \
                     `DROP INDEX CONCURRENTLY` to run (not a bare {name}, which may be another \
                     schema's index) —; drop it if so, then run {} again; {}",
                    crate::hint::command("migrate status"),
                    crate::hint::command(&again),
                    committed_stays(settings, step)
                ),
                completed,
            ),
            None => format!(
                "{}; run {} to see what is recorded, then {} again",
                committed_stays(settings, step),
                crate::hint::command("migrate status"),
                crate::hint::command(&again)
            ),
        });
    }
    let file = step.file();
    let running_index = running.then_some(completed);
    super::failure::explain_session_end(
        &step.migration.id(),
        file,
        server.as_ref(),
        completed,
        running_index,
        &mut failure.error,
        &mut failure.location,
    );
    failure
}

/// `help`, which runs `step` again once the INVALID index its build left is dropped, followed
/// by what that meets of an apply's own (`crate::plan::committed_run_again`): its statements
/// before statement `index` (0-based) committed and run again. A rollback's help as it is.
fn naming_committed(step: &Step<'_>, help: String, index: usize) -> String {
    match step.direction {
        Direction::Up => crate::plan::with_committed_run_again(
            help,
            &crate::plan::committed_statements(step.file(), index),
        ),
        Direction::Down => help,
    }
}

/// The index that statement `index` (0-based) of `file` builds `CONCURRENTLY`, when it names
/// it — its table's schema when the statement names one, and its name, each quoted as `DROP
/// INDEX` takes it —: what a build cut short (its session lost) leaves INVALID. `None` for any
/// other statement, and for an index the server names. Without a schema, where the index is
/// is what the lost session's `search_path` made it: not known here.
fn index_being_built(file: &SqlFile, index: usize) -> Option<(Option<String>, String)> {
    let text = file.text.get(file.statements.get(index)?.range.clone())?;
    let (Some(name), table) = crate::files::rules::concurrently_created_index(text)? else {
        return None;
    };
    let schema = (table.schema).map(|schema| crate::ledger::quote_ident(&schema).into_owned());
    Some((schema, crate::ledger::quote_ident(&name).into_owned()))
}

/// What an unfinished `DROP INDEX CONCURRENTLY` (failed or interrupted) left: the index, marked
/// INVALID by the drop's first phase, still exists and queries no longer use it (writes may
/// still maintain it); the step's migration is as the ledger says, and its start marker stays
/// (the drop committed part of itself). The detail, and what to do: the ways on of a run left
/// part-way with it ([`crate::plan::interrupted_ways_on`], `status`' help and the refusals'
/// too) — run the step again on purpose, whose `DROP INDEX CONCURRENTLY` drops an INVALID
/// index like any other, or, to keep the migration where the ledger has it, rebuild the index
/// (`REINDEX` makes it valid again, whichever phase the drop stopped in) and forget the run.
fn unfinished_drop(step: &Step<'_>, index: &InvalidIndex) -> (String, String) {
    (
        format!(
            "index {} was left INVALID by the unfinished DROP INDEX CONCURRENTLY: it still \
             exists, and queries no longer use it; {} stays interrupted",
            index.qualified,
            step.migration.id()
        ),
        ways_on_over(step, &LeftBehind::UnfinishedDrop(index.qualified.clone())),
    )
}

/// What an earlier, interrupted run of a no-transaction step may have left: the detail and
/// the help of [`earlier_run_did_it`].
struct EarlierRun {
    detail: String,
    help: String,
}

/// The SQLSTATEs of a statement that finds what it makes already there (going up: `CREATE`,
/// `ALTER TYPE ... ADD VALUE`, `ADD COLUMN`) or what it removes already gone (going down:
/// `DROP`): what running a statement an earlier run committed again fails with.
fn done_already(direction: Direction, sqlstate: &str) -> bool {
    use postgres::error::SqlState;
    let codes: &[&SqlState] = match direction {
        Direction::Up => &[
            &SqlState::DUPLICATE_TABLE,
            &SqlState::DUPLICATE_OBJECT,
            &SqlState::DUPLICATE_COLUMN,
            &SqlState::DUPLICATE_SCHEMA,
            &SqlState::DUPLICATE_FUNCTION,
            &SqlState::DUPLICATE_DATABASE,
        ],
        Direction::Down => &[
            &SqlState::UNDEFINED_TABLE,
            &SqlState::UNDEFINED_OBJECT,
            &SqlState::UNDEFINED_COLUMN,
            &SqlState::UNDEFINED_FUNCTION,
            &SqlState::INVALID_SCHEMA_NAME,
        ],
    };
    codes.iter().any(|code| code.code() == sqlstate)
}

/// The VALID index of `schema` named `name`, `schema.name` quoted as needed; `None` when
/// there is none (or it cannot be asked).
const VALID_INDEX_SQL: &str = "SELECT pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) \
     pg_catalog.quote_ident(c.relname) FROM pg_catalog.pg_index i \
     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid \
     JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
     WHERE i.indisvalid AND n.nspname OPERATOR(pg_catalog.=) $1 AND c.relname OPERATOR(pg_catalog.=) $2";

/// The VALID index that the `CREATE [UNIQUE] INDEX` statement `text` names, in its table's
/// schema as this session's `search_path` finds it (see [`index_built_again`]); `None` for any
/// other statement.
fn valid_index_built(client: &mut Client, text: &str) -> Option<String> {
    let (Some(name), table) = crate::files::rules::created_index(text)? else {
        return None;
    };
    let schema = match table.schema {
        Some(schema) => schema.into_owned(),
        None => table_schema(client, &crate::db::explaining, &table.name).ok()??,
    };
    crate::db::explaining_read(client, |tx| {
        tx.query_opt(VALID_INDEX_SQL, &[&schema, &name.as_ref()])
    })
    .ok()?
    .map(|row| row.get::<_, String>(0))
}

/// Statement `index` (0-based) of a no-transaction `step` failed on what it makes being there
/// already (going down: on what it removes being gone, [`done_already`]): a run of this very
/// migration that was stopped part-way may have committed it. Its ledger row is written after
/// its statements, so a run killed between the two (`kill -9`, a lost connection, a deploy
/// timeout) leaves them committed and unrecorded — and the server finishes a statement whose
/// client died until it next checks the client (every second,
/// `client_connection_check_interval`): a build shorter than that, or its last second,
/// completes. A run of this tool marks the migration started first ([`StartedRun`]), so that
/// one stopped part-way leaves it `interrupted` and is refused: `fresh` (no marker was there)
/// means no such run is left unsettled, and what is there came from one abandoned since
/// (`migrate abandon` deletes the marker and keeps what the run committed), a run that marks
/// nothing (confiture (Python), a release before the marker), or elsewhere — which, nothing
/// tells: the failure names them all, asserting none; not `fresh`, this run is the
/// `--rerun-interrupted` of an interrupted one, which committed it. It names which of the file's statements to look at, and the ways on — record
/// the migration without running it when everything it makes is there (`baseline`, which
/// deletes the marker), make its statements safe to run twice, or fix the file. A `CREATE
/// INDEX` whose VALID index is there is named.
fn earlier_run_did_it(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    failure: &StepFailure,
    index: usize,
    fresh: bool,
) -> Option<EarlierRun> {
    let sqlstate = &failure.server.as_ref()?.sqlstate;
    if !done_already(step.direction, sqlstate) {
        return None;
    }
    let file = step.file();
    let id = step.migration.id();
    let count = file.statements.len();
    let text = file
        .statements
        .get(index)
        .and_then(|span| file.text.get(span.range.clone()));
    let built = text.and_then(|text| valid_index_built(client, text));
    let path = crate::display::path_text(&file.path);
    let through = &step.migration.version_text;
    let statements = if index + 1 == count {
        format!("statement {}", index + 1)
    } else {
        format!("statements {}–{count}", index + 1)
    };
    // Who may have done it: the interrupted run this one runs again; else, with no marker, what
    // cannot be told apart — a stopped run of this tool whose marker `migrate abandon` deleted
    // (it leaves no trace: the markers' table is the run's), a run that marks nothing, a hand.
    let abandon = crate::hint::command(&format!("migrate abandon {}", step.migration.version_text));
    let (made, earlier) = match (step.direction, fresh) {
        (Direction::Up, false) => (
            "committed",
            format!("the interrupted run of {id} that this one runs again (`--rerun-interrupted`)"),
        ),
        (Direction::Down, false) => (
            "committed",
            format!(
                "the interrupted rollback of {id} that this one runs again \
                 (`--rerun-interrupted`)"
            ),
        ),
        (Direction::Up, true) => (
            "may have committed",
            format!(
                "no run of {id} is marked started (a run of this tool stopped part-way shows it \
                 `interrupted` until {abandon} forgets the run, keeping what it committed), so \
                 what did it is not known: a run of {id} left part-way and abandoned since, a \
                 run that marks nothing (confiture (Python), a release before the start marker) \
                 stopped before recording {id}, or statements run by hand"
            ),
        ),
        (Direction::Down, true) => (
            "may have committed",
            format!(
                "no rollback of {id} is marked started (a rollback of this tool stopped \
                 part-way shows it `interrupted (rollback)` until {abandon} forgets it, keeping \
                 what it committed), so what did it is not known: a rollback of {id} left \
                 part-way and abandoned since, a rollback that marks nothing (confiture \
                 (Python), a release before the start marker) stopped before deleting {id}'s \
                 row, or statements run by hand"
            ),
        ),
    };
    // The run's start marker stays after this failure: recording it over it takes `--yes`.
    let left = marker_left(settings, step, index);
    Some(match step.direction {
        Direction::Up => {
            let found = match &built {
                Some(qualified) => format!(
                    "index {qualified} exists and is VALID: {earlier} {} it",
                    made.replace("committed", "built")
                ),
                None => format!(
                    "what statement {} makes is already there: {earlier} {made} it",
                    index + 1
                ),
            };
            EarlierRun {
                detail: format!("{found} — {}", earlier_run_said(settings, step, fresh)),
                help: format!(
                    "check what the schema has of {statements} of {path}: if everything {id} \
                     makes is there, record it without running it: {}; if part of it is, make \
                     its statements safe to run twice (`IF NOT EXISTS`), then run {} again; \
                     otherwise fix {path}",
                    crate::hint::command(&crate::plan::record_command(through, left)),
                    crate::hint::command(&run_again_command(step, left)),
                ),
            }
        }
        Direction::Down => EarlierRun {
            detail: format!(
                "what statement {} removes is already gone: {earlier} {made} it — it runs \
                 without a transaction and its row is deleted after its statements",
                index + 1
            ),
            help: format!(
                "check what the schema still has of what {path} removes: make its statements \
                 safe to run twice (`IF EXISTS`), then run {} again; otherwise fix {path}",
                crate::hint::command(&run_again_command(step, left)),
            ),
        },
    })
}

/// Why a run of `step` before this one left what it made committed: what the start marker
/// this run replaced says of it (`--rerun-interrupted`, not `fresh`: failed, stopped, or ended
/// without an answer, [`StartedRun::committed`]), else what any run killed between its
/// statements and its row leaves. Of a killed run, how long the server runs a statement whose
/// client died: until it next checks the client, within a second with the tool's startup
/// options, as the server's own `client_connection_check_interval` says when the session was
/// opened without them ([`ApplySettings::without_options`]); with no marker replaced, the run
/// may not have been ours (another tool's sets no such check): the whole statement, maybe.
fn earlier_run_said(settings: &ApplySettings, step: &Step<'_>, fresh: bool) -> String {
    let id = step.migration.id();
    let client = match settings.without_options {
        false => {
            "the server finishes a statement whose client died until it next checks the \
                  client, within a second"
        }
        true => {
            "the server finishes a statement whose client died until it next checks the \
                 client, as its own client_connection_check_interval says (this session was \
                 opened without the tool's startup options, a pooler dropping them; by \
                 default it never checks: the statement runs to its end)"
        }
    };
    let replaced = (settings.markers.iter())
        .find(|m| m.version == step.ledger_version)
        .filter(|_| !fresh);
    match replaced {
        Some(marker) => {
            let killed = match marker.failed || marker.stopped_after {
                true => String::new(),
                false => format!(" ({client})"),
            };
            format!(
                "{id} runs without a transaction, and the start marker this run replaced said: \
                 {}{killed}",
                marker.clone().of_file(step.file()).committed()
            )
        }
        // No marker of ours: the earlier run may be another tool's (confiture (Python) sets no
        // `client_connection_check_interval`) or one that marks nothing, whose server may have
        // finished the whole statement after its client died.
        None => format!(
            "{id} runs without a transaction and its row is written after its statements, so \
             a run killed or disconnected in between leaves them committed and unrecorded \
             ({client} for a run of ours; for a run of another tool, confiture (Python) say, or \
             one that marks nothing, the server may finish the whole statement)"
        ),
    }
}

/// [`statement_failed`] for a failure between two statements (before statement `next`, which
/// was not sent): none was cut part-way, none is pending detach.
fn failed_between(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    failure: StepFailure,
    next: usize,
    before: &[InvalidIndex],
    fresh: bool,
) -> StepFailure {
    record_stopped_after(client, settings, step, next);
    let done = (before, None, None);
    statement_failed(client, settings, step, failure, next, done, fresh, false)
}

/// The failure of statement `index` (0-based) of a no-transaction step: what stays committed,
/// the indexes the failed statement left INVALID (those not in `before`; a `DROP INDEX
/// CONCURRENTLY` cut part-way, the one it left, `dropped`, its marker kept: the ways on of a
/// run left part-way with it), a partition it left pending detach (`pending`), and, for a deadlock,
/// the sessions that waited for the migration lock inside a statement (see
/// [`crate::db::lock::HeldLock::waiters`]). `inside`: the statement ran and may have committed
/// part of itself before it failed ([`commits_inside`]): the run is left part-way, its marker
/// stays, and the help is the one of a run left part-way
/// ([`crate::plan::interrupted_ways_on`]).
#[allow(clippy::too_many_arguments)]
fn statement_failed(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
    mut failure: StepFailure,
    index: usize,
    (before, pending, dropped): (
        &[InvalidIndex],
        Option<&PendingDetach>,
        Option<&InvalidIndex>,
    ),
    fresh: bool,
    inside: bool,
) -> StepFailure {
    let recorded = ledger_state(settings, step.direction);
    // The statements that may have committed end before `reached`.
    let reached = index + usize::from(inside || dropped.is_some());
    // What follows only explains the failure: bounded, so that a lock on a catalog held by
    // another session (`VACUUM FULL pg_class`) leaves it out rather than holding the report;
    // for the session, as the driver's parameterised reads below cannot carry them.
    if let Err(e) = client.batch_execute(&crate::db::explaining_session()) {
        left_out(&mut failure, Some(&e));
    }
    // "already exists" for an index an interrupted build left INVALID (the file's own
    // `search_path` still in effect finds its table): named, with the drop to run, not "make
    // it safe to run twice" (`IF NOT EXISTS` would record an index that was never built).
    let duplicate = postgres::error::SqlState::DUPLICATE_TABLE.code();
    // Not on a scratch database (`verify`, `drift`): dropped with whatever it holds.
    let live = settings.scratch.is_none();
    let left_invalid = failure
        .server
        .as_ref()
        .is_some_and(|s| live && s.sqlstate == duplicate)
        .then(|| step.file().statements.get(index))
        .flatten()
        .and_then(|span| step.file().text.get(span.range.clone()))
        .and_then(
            |text| match index_built_again(client, &crate::db::explaining, text, before) {
                Ok(found) => found,
                Err(e) => {
                    left_out(&mut failure, Some(&e));
                    None
                }
            },
        );
    let earlier = (left_invalid.is_none() && live)
        .then(|| earlier_run_did_it(client, settings, step, &failure, index, fresh))
        .flatten();
    if let Some(invalid) = left_invalid {
        failure.error = failure
            .error
            .with_detail(interrupted_build(invalid, &Meets::Builds));
        failure.error.help = Some(drop_index_then(
            &invalid.qualified,
            &run_again_command(step, marker_left(settings, step, reached)),
        ));
        failure.blames_file = false;
    }
    let partly = inside.then(|| {
        format!(
            "statement {} of {} ({}) may have committed part of its work before it \
             stopped: a `DO` block or a `CALL` can commit inside, and what it committed stays",
            index + 1,
            step.file().statements.len(),
            statement_keyword(step.file(), index).unwrap_or("DO")
        )
    });
    // A detach cut part-way by this run (not one refused as already pending, 55000: an earlier
    // run's) committed its first transaction.
    let already = postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE.code();
    let cut = pending.filter(|_| (failure.server.as_ref()).is_none_or(|s| s.sqlstate != already));
    let committed_part_way = |p: &PendingDetach| {
        format!(
            "statement {} was cut part-way: a `DETACH PARTITION ... CONCURRENTLY` commits its \
             first transaction before it waits for the sessions using {}, so partition {} is \
             left pending detach, and {} stays interrupted",
            index + 1,
            p.table,
            p.partition,
            step.migration.id()
        )
    };
    if let Some(p) = pending.filter(|_| cut.is_none()) {
        failure.error = failure.error.with_detail(format!(
            "partition {} of {} is pending detach: a `DETACH PARTITION ... CONCURRENTLY` of an \
             earlier run was cut part-way (cancelled, client killed, server restarted)",
            p.partition, p.table
        ));
    }
    // Where "committed none of its statements" is said, to say instead what a build that left
    // its index INVALID committed of itself, once the INVALID indexes are read (below).
    let said_none =
        (index == 0 && partly.is_none() && cut.is_none()).then_some(failure.error.details.len());
    failure.error = failure.error.with_detail(match (index, partly) {
        (0, _) if cut.is_some() => format!(
            "{}; {recorded}",
            cut.map(committed_part_way).unwrap_or_default()
        ),
        (0, Some(partly)) => format!("{partly}; {recorded}"),
        (0, None) => format!("this run committed none of its statements; {recorded}"),
        (k, partly) => format!(
            "{}{}; {recorded}",
            committed_before(step.file(), k),
            partly.map(|p| format!("; {p}")).unwrap_or_default()
        ),
    });
    if let Some(earlier) = earlier {
        // The file may be right: an earlier run committed what this statement makes again.
        failure.error = failure.error.with_detail(earlier.detail);
        failure.error.help = Some(earlier.help);
        failure.blames_file = false;
    }
    if let Some(invalid) = dropped {
        if let Some(detail) = said_none.and_then(|at| failure.error.details.get_mut(at)) {
            // Not "none": the drop's first transaction committed its index INVALID.
            *detail = format!(
                "this run committed nothing of its statements but what statement 1 commits \
                 before it waits: its index marked INVALID; {recorded}"
            );
        }
        // The file is right: what is left is the drop to finish (or the index to rebuild),
        // then what made it fail (a timeout to raise, a lock's holder), said by its own help
        // (its "run the command again" is refused while the marker stays: the command that
        // runs it again on purpose instead). A stop has no such help.
        let (detail, ways) = unfinished_drop(step, invalid);
        failure.error = failure.error.with_detail(detail);
        let again = crate::hint::command(&run_again_command(step, true));
        let own =
            (failure.error.help.take()).filter(|_| failure.error.kind != ErrorKind::Interrupted);
        failure.error.help = Some(match own {
            Some(own) => format!("{ways}; {}", own.replace(AGAIN, &again)),
            None => ways,
        });
        failure.blames_file = false;
    }
    if inside && live {
        // Left part-way: its marker stays and the next run refuses it (exit 7); the ways on
        // are those of any run left part-way, after fixing what failed.
        let file = crate::display::path_text(&step.file().path).to_string();
        let ways = crate::plan::interrupted_ways_on(
            step.direction == Direction::Down,
            step.ledger_version,
            &file,
            &run_again_command(step, true),
            "",
            None,
        );
        let stopped = failure.error.kind == ErrorKind::Interrupted;
        failure.error.help = Some(match (failure.error.help.take(), stopped) {
            (_, true) => ways,
            // Its own "run the command again" (a lock's) is refused while the marker stays.
            (Some(own), false) if !failure.blames_file => format!(
                "{ways}; {}",
                own.replace(AGAIN, &crate::hint::command(&run_again_command(step, true)))
            ),
            _ => format!("fix what made it fail (the error above names it); then {ways}"),
        });
    } else if durable_before(step.file(), index) && dropped.is_none() {
        // Running it again as it is would run the committed statements again: the help says
        // what the lock-release refusal says of them.
        let again = crate::hint::command(&run_again_command(
            step,
            marker_left(settings, step, reached),
        ));
        let committed = committed_stays(settings, step);
        let help = match (failure.blames_file, live) {
            // In a fleet the file may be applied elsewhere: what fails is fixed here.
            (true, true) if settings.in_fleet => format!(
                "fix what makes it fail on this database (the error above names it); \
                 {committed}, then run {again} again"
            ),
            (true, true) => format!(
                "fix {}; {committed}, then run {again} again",
                crate::display::path_text(&step.file().path)
            ),
            // On a scratch database, what it committed goes with it: the file is all to fix.
            (true, false) => format!(
                "fix {}, then {}",
                crate::display::path_text(&step.file().path),
                settings.run_again()
            ),
            (false, _) => match failure.error.help.take() {
                // Its own "run the command again" is refused while the marker stays: the
                // command that runs it again on purpose instead.
                Some(own) if live => format!("{}; {committed}", own.replace(AGAIN, &again)),
                Some(own) => own,
                None if live => format!("{committed}, then run {again} again"),
                None => settings.run_again(),
            },
        };
        failure.error.help = Some(help);
        failure.blames_file = false;
    }
    if let Some(p) = pending {
        if index > 0 {
            if let Some(cut) = cut {
                failure.error = failure.error.with_detail(committed_part_way(cut));
            }
        }
        // The file is right: what is left is the detach to finish, then the row to write.
        failure.error.help = Some(finalize_then(step, p));
        failure.blames_file = false;
    }
    // The session's bounds stay those of an explanation after its reset: a message waits for a
    // catalog's lock before its own `SET LOCAL` takes effect when the session must read the
    // catalogs again to run it (its `SET` asks whether the role is a superuser, after a
    // statement that failed while building a relation's cache entry: the start marker's
    // deletion waiting behind `LOCK pg_class`). The runner puts the connection's back once
    // the failure is told (`batch::Runner`).
    let _ = client.batch_execute(&format!(
        "{RESET_SESSION} {}",
        crate::db::explaining_session()
    ));
    // A drop's INVALID index is not a failed build's (read above, `dropped`).
    let after = (live && !drops_index(step.file(), index))
        .then(|| invalid_indexes_bounded(client, &crate::db::explaining));
    if let Some(Err(e)) = &after {
        left_out(&mut failure, Some(e));
    }
    if let Some(Ok(after)) = after {
        for invalid in after.iter().filter(|i| !before.contains(i)) {
            if let Some(detail) = said_none.and_then(|at| failure.error.details.get_mut(at)) {
                // Not "none": a `CONCURRENTLY` build (or rebuild) commits its new index
                // before it builds it, and that stays.
                *detail = format!(
                    "this run committed nothing of its statements but what statement 1 commits \
                     before it builds: the catalog entry of its new index {}, which stays, \
                     INVALID; {recorded}",
                    invalid.qualified
                );
            }
            failure.error = failure.error.with_detail(format!(
                "index {0} was left INVALID by the failed build; drop it before running again \
                 (`DROP INDEX CONCURRENTLY {0};`)",
                invalid.qualified
            ));
            // The run again is refused while it is INVALID (`invalid_index_left_behind`):
            // the help drops it first, whatever stopped the build (a stop, a failure).
            let again = run_again_command(step, marker_left(settings, step, reached));
            failure.error.help = Some(match failure.error.help.take() {
                Some(own) => format!(
                    "drop the unfinished index first, `DROP INDEX CONCURRENTLY {};`, then: {own}",
                    invalid.qualified
                ),
                None => drop_index_then(&invalid.qualified, &again),
            });
            failure.blames_file = false;
        }
        if after.iter().any(|invalid| !before.contains(invalid)) {
            failure.error.help =
                (failure.error.help.take()).map(|h| naming_committed(step, h, index));
        }
    }
    let deadlock = postgres::error::SqlState::T_R_DEADLOCK_DETECTED.code();
    let held = settings.held_lock.filter(|_| {
        failure
            .server
            .as_ref()
            .is_some_and(|s| s.sqlstate == deadlock)
    });
    let waiters = held.map(|held| held.waiters(client));
    if let Some(Err(e)) = &waiters {
        left_out(&mut failure, e.driver_error());
    }
    if let Some(Ok(waiters)) = waiters {
        if !waiters.is_empty() {
            let named: Vec<String> = waiters.iter().map(ToString::to_string).collect();
            failure.error = failure
                .error
                .with_detail(format!(
                    "waiting for the migration lock inside a statement: {} — a session that \
                     waits so holds a snapshot that this statement waits for, and the server \
                     broke the deadlock by cancelling this statement (confiture, the Python \
                     tool, waits so)",
                    named.join("; ")
                ))
                .with_help(format!(
                    "that run takes the lock once this one exits and may apply this migration \
                     itself: drop what the failed statement left behind (above) first, or stop \
                     that run, drop it, and run {AGAIN}"
                ));
        }
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::{
        index_builds, left_by_rebuild_of, reads_invalid_index, search_path_set_by, Reading,
        SearchPath,
    };
    use crate::files::{SqlFile, TransactionMode};
    use crate::ledger::StartedRun;

    fn marker(direction: &str, statement: u32) -> StartedRun {
        StartedRun {
            version: "002".to_string(),
            name: "ix".to_string(),
            direction: direction.to_string(),
            checksum: String::new(),
            started_at: "2026-12-07T10:00:00+00:00".to_string(),
            started_by: "app".to_string(),
            client_addr: None,
            statement,
            statements: 5,
            failed: false,
            stopped_after: false,
            earlier_committed: 0,
            earlier_unsure: None,
            session_only: Vec::new(),
        }
    }

    /// The builds read for an INVALID index: those opening the file, and, after an apply a run
    /// left part-way, every one from the statement it was running on (a lagging marker's
    /// included), whatever comes before it; never a rollback's marker's.
    #[test]
    fn the_builds_read_are_the_opening_ones_and_those_from_the_interrupted_statement() {
        let file = SqlFile::new(
            "db/migrations/002_ix.up.sql",
            "CREATE INDEX CONCURRENTLY a ON t (id);\nSELECT 1;\n\
             CREATE INDEX CONCURRENTLY IF NOT EXISTS b ON t (id);\nSET lock_timeout = '1s';\n\
             REINDEX INDEX CONCURRENTLY c;\n",
            TransactionMode::NoTransaction,
            false,
        );
        // Each build read, as its statement's number.
        let builds = |marker: Option<&StartedRun>| {
            index_builds(&file, marker, Reading::Record)
                .filter_map(|(text, _)| {
                    (file.statements.iter()).position(|s| &file.text[s.range.clone()] == text)
                })
                .map(|at| at + 1)
                .collect::<Vec<_>>()
        };
        assert_eq!(builds(None), [1]);
        assert_eq!(builds(Some(&marker("up", 1))), [1, 3, 5]);
        assert_eq!(builds(Some(&marker("up", 2))), [1, 3, 5]);
        assert_eq!(builds(Some(&marker("up", 3))), [1, 3, 5]);
        assert_eq!(builds(Some(&marker("up", 4))), [1, 5]);
        assert_eq!(builds(Some(&marker("up", 5))), [1, 5]);
        assert_eq!(builds(Some(&marker("down", 3))), [1]);
        // After a statement that may set `search_path`, a build's table may be elsewhere: only
        // one naming its schema is read.
        let moved = SqlFile::new(
            "db/migrations/002_ix.up.sql",
            "SELECT 1;\nSELECT set_config('Search_Path', 'b', false);\n\
             CREATE INDEX CONCURRENTLY a ON t (id);\nCREATE INDEX CONCURRENTLY b ON b.t (id);\n",
            TransactionMode::NoTransaction,
            false,
        );
        let read = (index_builds(&moved, Some(&marker("up", 1)), Reading::Record))
            .filter_map(|(text, _)| {
                (moved.statements.iter()).position(|s| &moved.text[s.range.clone()] == text)
            })
            .collect::<Vec<_>>();
        assert_eq!(read, [3]);
        let later = SqlFile::new(
            "db/migrations/002_ix.up.sql",
            "SELECT 1;\nCREATE INDEX CONCURRENTLY b ON t (id);\n",
            TransactionMode::NoTransaction,
            false,
        );
        for concurrently_only in [false, true] {
            assert!(!reads_invalid_index(
                &later,
                None,
                Reading::Run,
                concurrently_only
            ));
            assert!(reads_invalid_index(
                &later,
                Some(&marker("up", 2)),
                Reading::Run,
                concurrently_only
            ));
            assert!(reads_invalid_index(
                &later,
                Some(&marker("up", 1)),
                Reading::Run,
                concurrently_only
            ));
            assert!(!reads_invalid_index(
                &later,
                Some(&marker("down", 1)),
                Reading::Run,
                concurrently_only
            ));
        }
    }

    /// hrb F2: after the file's own `SET search_path`, a build naming no schema was never
    /// read (`status`, `baseline`, the dry runs missed its INVALID index); it is read with
    /// that `search_path`, given to the reading session in its message's transaction. A
    /// `search_path` set otherwise (a `DO` block, `set_config`) is still not known.
    #[test]
    fn a_build_after_the_files_own_search_path_is_read_with_it() {
        for (set, sent) in [
            (
                "SET search_path = app",
                Some("SET LOCAL search_path TO app;"),
            ),
            (
                "set session search_path to \"A b\", 'c', public;",
                Some("SET LOCAL search_path TO \"A b\" , 'c' , public;"),
            ),
            (
                "SET search_path TO DEFAULT",
                Some("SET LOCAL search_path TO DEFAULT;"),
            ),
            (
                "RESET search_path",
                Some("SET LOCAL search_path TO DEFAULT;"),
            ),
            ("RESET ALL", Some("SET LOCAL search_path TO DEFAULT;")),
            ("SET LOCAL search_path = app", None),
            ("SET search_path = E'app'", None),
            ("SET search_path = app; DROP TABLE x", None),
            ("SELECT set_config('search_path', 'app', false)", None),
        ] {
            assert_eq!(search_path_set_by(set).as_deref(), sent, "{set}");
        }
        let file = SqlFile::new(
            "db/migrations/002_ix.up.sql",
            "SET search_path = app;\nCREATE INDEX CONCURRENTLY a ON t (id);\n",
            TransactionMode::NoTransaction,
            false,
        );
        let read: Vec<SearchPath> = index_builds(&file, Some(&marker("up", 2)), Reading::Record)
            .map(|(_, path)| path)
            .collect();
        let app = SearchPath::Set("SET LOCAL search_path TO app;".to_string());
        assert_eq!(read, [app]);
    }

    /// A run of a file that drops an index before it builds it again (`DROP INDEX ... IF
    /// EXISTS`) does not meet an INVALID index of that name: that build is not read for a run
    /// (`Reading::Run`), only for what recording the file without running it leaves behind.
    #[test]
    fn a_build_the_file_drops_first_is_read_only_for_a_record() {
        let file = SqlFile::new(
            "db/migrations/002_ix.up.sql",
            "SELECT 1;
DROP INDEX CONCURRENTLY IF EXISTS app.a, c_ccnew;
             CREATE INDEX CONCURRENTLY a ON app.t (id);
CREATE INDEX CONCURRENTLY a ON b.t (id);
             CREATE INDEX CONCURRENTLY b ON t (id);
REINDEX INDEX CONCURRENTLY c;
",
            TransactionMode::NoTransaction,
            false,
        );
        let builds = |read: Reading| {
            index_builds(&file, Some(&marker("up", 2)), read)
                .filter_map(|(text, _)| {
                    (file.statements.iter()).position(|s| &file.text[s.range.clone()] == text)
                })
                .map(|at| at + 1)
                .collect::<Vec<_>>()
        };
        assert_eq!(builds(Reading::Record), [3, 4, 5, 6]);
        assert_eq!(builds(Reading::Run), [4, 5]);
        let dropped = SqlFile::new(
            "db/migrations/002_ix.up.sql",
            "SELECT 1;
DROP INDEX IF EXISTS b;
CREATE INDEX CONCURRENTLY b ON t (id);
",
            TransactionMode::NoTransaction,
            false,
        );
        let marker = marker("up", 3);
        assert!(reads_invalid_index(
            &dropped,
            Some(&marker),
            Reading::Record,
            true
        ));
        assert!(!reads_invalid_index(
            &dropped,
            Some(&marker),
            Reading::Run,
            true
        ));
    }

    #[test]
    fn the_names_a_concurrent_rebuild_leaves_are_its_indexs_own() {
        let long = "i".repeat(63);
        // What PostgreSQL 15 names them (`ChooseRelationName`): cut to fit 63 bytes.
        let cut_new = format!("{}_ccnew", "i".repeat(57));
        let cut_new1 = format!("{}_ccnew1", "i".repeat(56));
        for (name, of, expected) in [
            ("big_i_ccnew", "big_i", true),
            ("big_i_ccold", "big_i", true),
            ("big_i_ccnew1", "big_i", true),
            ("big_i_ccold12", "big_i", true),
            ("idx2_ccnew", "idx2", true),
            (cut_new.as_str(), long.as_str(), true),
            (cut_new1.as_str(), long.as_str(), true),
            // Another index's, or no rebuild's.
            ("big_ccnew", "big_i", false),
            ("big_i", "big_i", false),
            ("big_i_new", "big_i", false),
            ("big_i_ccnew_x", "big_i", false),
            ("other_ccnew", "big_i", false),
            ("i_ccnew", long.as_str(), false),
        ] {
            assert_eq!(left_by_rebuild_of(name, of), expected, "{name} of {of}");
        }
    }

    /// What statements before a failed one committed: those that only set session state
    /// (`SET`, `RESET`, `SHOW`, a `SELECT` of `set_config`) are nothing to undo.
    #[test]
    fn session_only_statements_are_not_committed_work_to_undo() {
        let file = |text: &str| {
            SqlFile::new(
                "m/001_x.up.sql",
                text,
                TransactionMode::NoTransaction,
                false,
            )
        };
        let said = |text: &str, k: usize| super::committed_before(&file(text), k);
        assert_eq!(
            said("SET lock_timeout = '1s';\nSHOW search_path;\nSELECT set_config('a.b', 'c', false);\nSELECT 1;\n", 3),
            "statements 1–3 only set session state and committed nothing"
        );
        assert_eq!(
            said("RESET search_path;\nSELECT 1;\n", 1),
            "statement 1 only set session state and committed nothing"
        );
        assert_eq!(
            said("CREATE TABLE t (id int);\nSELECT 1;\n", 1),
            "statement 1 was committed (this migration runs without a transaction)"
        );
        assert_eq!(
            said(
                "SET a.b = 1;\nCREATE TABLE t (id int);\nRESET a.b;\nSHOW a.b;\nSELECT 1;\n",
                4
            ),
            "statements 1–4 were committed (this migration runs without a transaction); \
             statements 1, 3 and 4 of them only set session state: nothing of theirs to undo"
        );
        assert!(!super::durable_before(
            &file("SHOW a.b;\nSET a.b = 1;\nSELECT 1;\n"),
            2
        ));
    }
}
