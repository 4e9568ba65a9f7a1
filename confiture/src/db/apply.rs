//! Running one migration's SQL — up or down — together with its ledger row.
//!
//! A transactional migration is one simple-query message:
//! `BEGIN; SET LOCAL ...; <body>\n; <ledger insert or delete>; COMMIT`, so the body and its row
//! commit together or not at all, in one round trip. After an error the server skips the rest of
//! the message and leaves the session in an aborted transaction block, so a `ROLLBACK` follows.
//! A migration marked `-- confiture:no-transaction` runs statement by statement in autocommit,
//! and its row is written only after every statement succeeded.
//!
//! A [`Script`] remembers where each file's text sits in the message, so the server's error
//! position (a 1-based character offset into the whole message) maps back to file and line.

// Failures carry the report and file position a deploy script needs; they are the cold path,
// so their size does not matter and boxing would only make the public API clumsier.
#![allow(clippy::result_large_err)]

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postgres::error::{DbError, ErrorPosition, SqlState};
use postgres::{Client, SimpleQueryMessage};
use serde::Serialize;

use super::backoff::{human, Backoff};
use super::{is_connection_lost, query_error};
use crate::error::{Error, ErrorKind};
use crate::files::lexer::TokenKind;
use crate::files::{Migration, SqlFile, TransactionMode};
use crate::ledger::{self, RowKind, TrackingTable};

/// Applying (`up`) or rolling back (`down`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Applying.
    Up,
    /// Rolling back.
    Down,
}

/// The settings every migration of a run shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplySettings {
    pub table: TrackingTable,
    /// `lock_timeout` for migration SQL; zero disables it.
    pub lock_timeout: Duration,
    /// `statement_timeout` for migration SQL; `None` keeps the server's.
    pub statement_timeout: Option<Duration>,
    /// Retries of a transactional migration that failed on `lock_timeout` (55P03) or a deadlock.
    pub lock_retries: u32,
}

/// One migration to run in one direction.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub migration: &'a Migration,
    pub direction: Direction,
    /// The `version` of the ledger row the step writes (up: the file's version text) or
    /// deletes (down: the row the plan matched, by its own text — `0002` stays `0002` after the
    /// file was renamed `002_b`; never re-derived from the file name).
    pub ledger_version: &'a str,
    /// False on every migration of a run but the last: WAL is written in order, so the last,
    /// synchronous commit makes every earlier one durable, and a crash loses only a suffix of
    /// whole migrations.
    pub synchronous_commit: bool,
}

impl<'a> Step<'a> {
    /// Applying `migration`: its row is written with the file's version text.
    pub fn up(migration: &'a Migration, synchronous_commit: bool) -> Step<'a> {
        Step {
            migration,
            direction: Direction::Up,
            ledger_version: &migration.version_text,
            synchronous_commit,
        }
    }

    /// Rolling back `migration`, recorded by the ledger row whose `version` is `row_version`.
    pub fn down(
        migration: &'a Migration,
        row_version: &'a str,
        synchronous_commit: bool,
    ) -> Step<'a> {
        Step {
            migration,
            direction: Direction::Down,
            ledger_version: row_version,
            synchronous_commit,
        }
    }

    pub fn file(&self) -> &'a SqlFile {
        match self.direction {
            Direction::Up => &self.migration.up,
            Direction::Down => &self.migration.down,
        }
    }
}

/// What running a step took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOutcome {
    /// As measured by the server (or, statement by statement, by us); `None` when it is not
    /// known — never a share of a message's time.
    pub duration: Option<Duration>,
    /// 1, or more when the migration was retried after a lock timeout.
    pub attempts: u32,
}

/// A place in a migration file: 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: PathBuf,
    pub line: u32,
    pub column: u32,
}

/// Why a step failed: the error (its kind decides the exit code) and, for machines, where.
#[derive(Debug, Clone)]
pub struct StepFailure {
    pub error: Error,
    pub location: Option<Location>,
    /// The SQLSTATE and message the server gave, when it answered.
    pub server: Option<crate::error::ServerError>,
    /// How many steps, from the failing one on, may have committed without our knowing: the
    /// connection dropped while they ran (the message carrying them, or the one step); 0 when
    /// the server answered.
    pub unknown_fate: usize,
}

/// Called before each retry with the attempt that failed (1-based) and the delay before the next.
pub type OnRetry<'a> = dyn FnMut(u32, Duration) + 'a;

/// A simple-query message under construction. Offsets are in characters, as the server counts
/// error positions.
#[derive(Debug, Default)]
pub struct Script<'a> {
    text: String,
    chars: usize,
    bodies: Vec<Body<'a>>,
    /// Where each step of a message carrying several begins (character offsets, ascending).
    steps: Vec<usize>,
}

#[derive(Debug)]
struct Body<'a> {
    /// Character range of the body in the message.
    chars: Range<usize>,
    /// Byte range of the body in the message.
    bytes: Range<usize>,
    file: &'a SqlFile,
    /// The file line the body's first character is on.
    first_line: u32,
    /// The file column the body's first character is at.
    first_column: u32,
    /// The step (see [`Script::begin_step`]) the body belongs to.
    step: usize,
}

impl<'a> Script<'a> {
    pub fn new() -> Script<'a> {
        Script::default()
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Marks the start of the next step: what follows, up to the next mark, is that step's.
    pub fn begin_step(&mut self) {
        self.steps.push(self.chars);
    }

    /// Which step a server error position falls in (0 when no step was marked); `None` when
    /// it is outside the message.
    pub fn step_at(&self, position: &ErrorPosition) -> Option<usize> {
        let ErrorPosition::Original(p) = position else {
            return None;
        };
        let offset = (*p as usize).checked_sub(1)?;
        if offset >= self.chars {
            return None;
        }
        Some(
            self.steps
                .partition_point(|&start| start <= offset)
                .saturating_sub(1),
        )
    }

    /// Appends our own SQL (not from a file), followed by a newline.
    pub fn push_sql(&mut self, sql: &str) {
        self.push_raw(sql);
        self.push_raw("\n");
    }

    fn push_raw(&mut self, s: &str) {
        self.text.push_str(s);
        self.chars += s.chars().count();
    }

    /// Appends text from `file` (the whole body, or one statement starting at `first_line`),
    /// then `\n;\n`: the newline ends a trailing `-- comment` that would otherwise swallow the
    /// terminator and whatever we append next.
    pub fn push_body(&mut self, file: &'a SqlFile, text: &str, first_line: u32) {
        self.push_file_text(file, text, first_line);
        self.push_raw("\n;\n");
    }

    /// Appends one statement of `file` as is: sent alone, it must stay a single statement
    /// (two would make an implicit transaction block, which `CREATE INDEX CONCURRENTLY` refuses).
    pub fn push_statement(&mut self, file: &'a SqlFile, text: &str, first_line: u32) {
        self.push_file_text(file, text, first_line);
    }

    /// Appends a transactional migration's whole body like [`Script::push_body`], with a
    /// statement marker after each statement when [`pieces`] allows them: the failed
    /// statement is then known from what the server did before the error (see
    /// [`STATEMENT_MARKER`]). Returns how many markers it sent, when it sent any; the caller
    /// deallocates the last one once the step's transaction is over.
    fn push_marked_body(&mut self, file: &'a SqlFile, tag: &str) -> Option<usize> {
        let Some(pieces) = pieces(file) else {
            self.push_body(file, &file.text, 1);
            return None;
        };
        for (k, piece) in pieces.iter().enumerate() {
            let text = &file.text[piece.range.clone()];
            self.push_file_text_at(file, text, piece.start_line, piece.start_column);
            // The newline ends a trailing `-- comment`; an unterminated last statement gets
            // its `;`.
            self.push_raw(if piece.terminated { "\n" } else { "\n;\n" });
            let mut sql = format!("PREPARE {} AS SELECT;", marker_name(tag, k + 1));
            if k > 0 {
                sql.push_str(&format!(" DEALLOCATE {};", marker_name(tag, k)));
            }
            self.push_sql(&sql);
        }
        Some(pieces.len())
    }

    fn push_file_text(&mut self, file: &'a SqlFile, text: &str, first_line: u32) {
        self.push_file_text_at(file, text, first_line, 1);
    }

    /// Appends text of `file` that starts at `first_line`, `first_column`.
    fn push_file_text_at(
        &mut self,
        file: &'a SqlFile,
        text: &str,
        first_line: u32,
        first_column: u32,
    ) {
        // A byte-order mark is part of the checksum, not of the SQL: the server would read it
        // as part of an identifier.
        let (text, first_column) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (rest, first_column + 1),
            None => (text, first_column),
        };
        let start_chars = self.chars;
        let start_bytes = self.text.len();
        self.push_raw(text);
        self.bodies.push(Body {
            chars: start_chars..self.chars,
            bytes: start_bytes..self.text.len(),
            file,
            first_line,
            first_column,
            step: self.steps.len().saturating_sub(1),
        });
    }

    /// Maps the server's error position back to a file, line and column. `None` when the
    /// error is in our own SQL or the server gave no position.
    #[cfg(test)]
    pub fn locate(&self, position: &ErrorPosition) -> Option<Location> {
        self.locate_in(position, None)
    }

    /// [`Script::locate`], looking only at the bodies of `step` when given: in a message
    /// carrying several migrations, a function body's text may appear in more than one.
    fn locate_in(&self, position: &ErrorPosition, step: Option<usize>) -> Option<Location> {
        let in_step = |b: &&Body<'_>| step.is_none_or(|s| b.step == s);
        match position {
            ErrorPosition::Original(p) => {
                let offset = (*p as usize).checked_sub(1)?;
                let body = self
                    .bodies
                    .iter()
                    .filter(in_step)
                    .find(|b| b.chars.contains(&offset))?;
                let body_text = &self.text[body.bytes.clone()];
                Some(body.location(body_text, offset - body.chars.start))
            }
            // An error inside a function body the server could not map back itself: find the
            // body's text in the file.
            ErrorPosition::Internal { position, query } => {
                let offset = (*position as usize).checked_sub(1)?;
                self.bodies.iter().filter(in_step).find_map(|b| {
                    let body_text = &self.text[b.bytes.clone()];
                    let at = body_text.find(query.as_str())?;
                    let chars_before = body_text[..at].chars().count();
                    Some(b.location(body_text, chars_before + offset))
                })
            }
        }
    }
}

impl Body<'_> {
    fn location(&self, body_text: &str, char_offset: usize) -> Location {
        let before: String = body_text.chars().take(char_offset).collect();
        let newlines = before.matches('\n').count() as u32;
        let column = match before.rfind('\n') {
            Some(nl) => before[nl + 1..].chars().count() as u32 + 1,
            None => before.chars().count() as u32 + self.first_column,
        };
        Location {
            path: self.file.path.clone(),
            line: self.first_line + newlines,
            column,
        }
    }
}

/// Statement markers: how the engine knows which statement of a transactional migration failed
/// when the server's error has no position (a runtime error: division by zero, a unique
/// violation, a `RAISE`), without ever running the migration's SQL again.
///
/// After the `k`-th statement of a migration of several, the message carries
/// `PREPARE confiture_at_<nonce>_<step>_<k> AS SELECT` (and deallocates marker `k - 1`). A
/// prepared statement is session state that a rollback does not undo, so after an error the
/// one marker left names the last statement that completed; the failing one is the next.
/// Exact: nothing a migration sets (`client_min_messages`, roles, `search_path`) hides it, it
/// needs no privilege and writes nothing, and the server parses `SELECT` with no table. A
/// notice per statement would be hidden by `client_min_messages = error`; a count of the
/// statements completed would need the raw message stream that the `postgres` driver drops
/// on error. Single-statement migrations need none and carry none.
const STATEMENT_MARKER: &str = "confiture_at_";

/// The name of marker `k` of the step tagged `tag` (`<nonce>_<step>`): lowercase ASCII,
/// digits and `_`, so it needs no quoting.
fn marker_name(tag: &str, k: usize) -> String {
    format!("{STATEMENT_MARKER}{tag}_{k}")
}

/// How many statements of the step tagged `tag` completed, from the markers left in the
/// session after a failure (0 when none is left: the first statement failed).
fn completed_statements(markers: &[String], tag: &str) -> usize {
    let prefix = format!("{STATEMENT_MARKER}{tag}_");
    markers
        .iter()
        .filter_map(|name| name.strip_prefix(&prefix)?.parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// The file says `DEALLOCATE` (in any case, anywhere): it may drop the session's prepared
/// statements, ours too, so it gets none that must outlive it.
fn says_deallocate(file: &SqlFile) -> bool {
    file.text
        .as_bytes()
        .windows(10)
        .any(|w| w.eq_ignore_ascii_case(b"deallocate"))
}

/// The statement a message of several migrations prepares once for their ledger rows (up),
/// and the one for the end of each transaction (`<name>_next`): the server then parses,
/// analyses and plans them once per message, not once per migration. Deallocated at the end
/// of the message, or after a failure by [`rollback_and_read`].
fn prepared_row(nonce: u64) -> String {
    format!("confiture_row_{nonce}")
}

/// The `PREPARE`s of [`prepared_row`]: `(version, name, checksum, slug prefix, step index)`,
/// and `(marker)`.
fn prepare_rows_sql(table: &TrackingTable, nonce: u64) -> String {
    let insert = ledger::insert_applied_at_exprs_sql(
        table,
        &ledger::AppliedRowExprs {
            slug_prefix: "$4",
            version: "$1",
            name: "$2",
            checksum: "$3",
            applied_at: &started_at(),
            execution_time_ms: &elapsed_ms(),
        },
    );
    let row = prepared_row(nonce);
    format!(
        "PREPARE {row}(text, text, text, text, int) AS {insert} \
         RETURNING $5 AS {STEP_COLUMN}, execution_time_ms AS {MS_COLUMN};\n\
         PREPARE {row}_next(text) AS SELECT pg_catalog.set_config('{MARKER}', $1, false), \
         pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);"
    )
}

/// Whether a message of `steps` prepares its ledger rows: several migrations applied, none
/// of which says `DEALLOCATE`.
fn prepares_rows(steps: &[Step<'_>]) -> bool {
    steps.len() >= 2
        && steps
            .iter()
            .all(|s| s.direction == Direction::Up && !says_deallocate(s.file()))
}

/// A file's text between two statement markers: up to the end of one statement (the last
/// piece: to the end of the file).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    range: Range<usize>,
    /// Line and column where the piece starts.
    start_line: u32,
    start_column: u32,
    /// Line of the statement's first token: what a failure names.
    line: u32,
    /// Ends with its statement's `;`.
    terminated: bool,
}

/// A transactional file cut after each statement, where statement markers can go: two
/// statements or more, cut by the shared splitter. `None` — no markers — for a file with a
/// backslash (`standard_conforming_strings = off`, for instance from `ALTER ROLE ... SET`,
/// would make the server read a `'...\'...'` string differently, so a cut could fall inside
/// one), one that says `DEALLOCATE` (`DEALLOCATE ALL` would drop a marker, and the next
/// `DEALLOCATE` of ours would fail), or one that says `statement_timeout` (a tiny one would
/// cancel a marker, failing a migration that would otherwise pass).
fn pieces(file: &SqlFile) -> Option<Vec<Piece>> {
    let text = &file.text;
    let says_statement_timeout = text
        .as_bytes()
        .windows(17)
        .any(|w| w.eq_ignore_ascii_case(b"statement_timeout"));
    if text.contains('\\') || says_deallocate(file) || says_statement_timeout {
        return None;
    }
    let split = crate::files::lexer::split(text);
    if split.statements.len() < 2 {
        return None;
    }
    let mut locator = crate::text::Locator::new(text);
    let last = split.statements.len() - 1;
    let mut start = 0;
    let mut pieces = Vec::with_capacity(split.statements.len());
    for (k, stmt) in split.statements.iter().enumerate() {
        let end = if k == last {
            text.len()
        } else {
            stmt.range.end
        };
        let (start_line, start_column) = if start == 0 {
            (1, 1)
        } else {
            locator.line_col(start)
        };
        pieces.push(Piece {
            range: start..end,
            start_line,
            start_column,
            line: stmt.line,
            terminated: stmt.terminated,
        });
        start = end;
    }
    Some(pieces)
}

fn millis(d: Duration) -> u128 {
    // Round up: 0 would mean "no timeout" to the server.
    if d.is_zero() {
        0
    } else {
        d.as_millis().max(1)
    }
}

/// `SET [LOCAL] lock_timeout ...; SET [LOCAL] statement_timeout ...`.
fn timeouts_sql(settings: &ApplySettings, local: bool) -> String {
    let scope = if local { "SET LOCAL" } else { "SET" };
    let mut sql = format!(
        "{scope} lock_timeout = '{}ms';",
        millis(settings.lock_timeout)
    );
    if let Some(st) = settings.statement_timeout {
        sql.push_str(&format!(" {scope} statement_timeout = '{}ms';", millis(st)));
    }
    sql
}

/// The session setting that holds when the current migration began (epoch seconds as text,
/// so reading it back does not depend on DateStyle or TimeZone). It is set when a message
/// starts and again at the end of each migration's transaction, for the next one: a message
/// carries several migrations, and `now()` is the same for all of them (the server stamps a
/// message once), so each migration's `applied_at` and `execution_time_ms` come from here.
/// A migration that ran `RESET ALL` took its clock away: its row gets the time it is written
/// and no `execution_time_ms` (omitted rather than made up).
const CLOCK: &str = "confiture.t";
/// The clock's value now.
const CLOCK_NOW: &str = "date_part('epoch', clock_timestamp())::text";
/// The clock as a number; NULL when a migration reset it or left something else in it (a
/// value that is not an epoch is never cast, so it cannot fail the ledger statement), and
/// NULL unless it lies between the start of the transaction and now (a migration that set it
/// to another time cannot move its row before the rows of the migrations applied ahead of it).
const CLOCK_VALUE: &str = "(CASE WHEN current_setting('confiture.t', true) ~ '^[0-9]{1,12}(\\.[0-9]{1,9})?$' \
     AND current_setting('confiture.t', true)::float8 BETWEEN date_part('epoch', now()) \
     AND date_part('epoch', clock_timestamp()) THEN current_setting('confiture.t', true)::float8 END)";

/// Puts the session back as the connection opened it: the role and session user of the login,
/// every setting at its connection-time value (`RESET ALL` keeps what the startup packet and
/// `ALTER ROLE/DATABASE ... SET` give). Sent at the start of every message that runs migrations
/// and after every migration — in the same message, never as a round trip of its own — so that
/// each migration starts from the same session state however it is batched, and its `SET`s
/// (search_path, role, timeouts, read-only, `set_config(..., false)`) never reach the next one.
/// Transactional like any `SET`: rolled back with a failed migration's transaction.
pub const RESET_SESSION: &str = "RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL;";
/// The role half of [`RESET_SESSION`]: the ledger row is written as the connecting role.
/// After it (and the ledger statement), `RESET ALL` completes the reset.
/// The ledger statement names its table schema-qualified (the caller resolves it) and calls
/// only functions of `pg_catalog`, which every `search_path` searches first unless it names
/// `pg_catalog` itself later on.
const RESET_ROLE: &str = "RESET SESSION AUTHORIZATION; RESET ROLE;";

/// The start of every message that runs migrations: a clean session and a started clock.
fn start_message() -> String {
    format!("{RESET_SESSION} SELECT pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);")
}

/// When the migration began; without a clock, when its row is written. Never `now()`: that
/// is when the message arrived, before the migrations sent ahead of this one in it, and
/// `applied_at` is the order `down` rolls back by.
fn started_at() -> String {
    format!("COALESCE(to_timestamp({CLOCK_VALUE}), clock_timestamp())")
}

/// Milliseconds since the migration began, measured by the server (NULL without a clock).
fn elapsed_ms() -> String {
    format!("((date_part('epoch', clock_timestamp()) - {CLOCK_VALUE}) * 1000)::int")
}

/// The SQL that records (up) or forgets (down) the migration in the ledger, as the connecting
/// role (the migration may have run `SET ROLE`). The table is schema-qualified by the caller
/// (see [`crate::db::ledger::read_qualified`]): a migration's `search_path` does not matter.
///
/// The statement returns the step's `index` in its message and its time, measured by the
/// server (columns [`STEP_COLUMN`], [`MS_COLUMN`]): how [`run_steps`] learns each step's
/// duration from the message itself.
fn ledger_sql(
    settings: &ApplySettings,
    step: &Step<'_>,
    index: usize,
    prepared: Option<u64>,
) -> String {
    let table = &settings.table;
    let m = step.migration;
    let row = match (step.direction, prepared) {
        (Direction::Up, Some(nonce)) => format!(
            "EXECUTE {}({}, {}, {}, {}, {index})",
            prepared_row(nonce),
            ledger::literal(step.ledger_version),
            ledger::literal(&m.name),
            ledger::literal(&m.up.checksum),
            ledger::literal(&format!("{}_{}_", m.name, step.ledger_version)),
        ),
        (Direction::Up, None) => format!(
            "{} RETURNING {index} AS {STEP_COLUMN}, execution_time_ms AS {MS_COLUMN}",
            ledger::insert_applied_at_sql(
                table,
                step.ledger_version,
                &m.name,
                &m.up.checksum,
                &started_at(),
                &elapsed_ms(),
            )
        ),
        (Direction::Down, _) => format!(
            "{} RETURNING {index} AS {STEP_COLUMN}, {} AS {MS_COLUMN}",
            ledger::delete_sql(table, step.ledger_version),
            elapsed_ms()
        ),
    };
    // The migration's own timeouts must not bound the row (a `SET statement_timeout = '1ms'`
    // in it would fail its own ledger write): ours again, for this statement's transaction.
    let statement_timeout = settings.statement_timeout.map_or(0, millis);
    format!(
        "{RESET_ROLE} SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{statement_timeout}ms';\n{row}",
        millis(settings.lock_timeout)
    )
}

/// The column of a ledger statement's result naming its step in the message.
const STEP_COLUMN: &str = "confiture_step";
/// The column of a ledger statement's result giving the step's milliseconds.
const MS_COLUMN: &str = "confiture_ms";

/// The ledger SQL of a no-transaction step, sent on its own after its statements:
/// `execution_time_ms` is measured by us and given as a literal.
fn record_sql(table: &TrackingTable, step: &Step<'_>, elapsed_ms: &str) -> String {
    let m = step.migration;
    match step.direction {
        Direction::Up => ledger::insert_sql(
            table,
            step.ledger_version,
            &m.name,
            &m.up.checksum,
            RowKind::Applied,
            elapsed_ms,
        ),
        Direction::Down => ledger::delete_sql(table, step.ledger_version),
    }
}

/// Appends a step's body and ledger row to a script already inside the one transaction of
/// `--single-transaction`, then puts the session back for the next step: [`RESET_SESSION`]
/// (the role before the ledger row, the settings after it) and the run's `SET LOCAL`s again
/// (`RESET ALL` takes them away too).
fn push_step<'a>(script: &mut Script<'a>, settings: &ApplySettings, step: &Step<'a>, tag: &str) {
    script.push_sql(&format!(
        "SELECT pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);"
    ));
    let file = step.file();
    let markers = script.push_marked_body(file, tag);
    script.push_sql(&format!(
        "{};\nRESET ALL; {}",
        ledger_sql(settings, step, 0, None),
        local_settings(settings, true)
    ));
    if let Some(n) = markers {
        script.push_sql(&format!("DEALLOCATE {};", marker_name(tag, n)));
    }
}

/// The `SET LOCAL`s of a migration's transaction.
fn local_settings(settings: &ApplySettings, synchronous_commit: bool) -> String {
    let mut sql = timeouts_sql(settings, true);
    if !synchronous_commit {
        sql.push_str(" SET LOCAL synchronous_commit = off;");
    }
    sql
}

fn begin_sql(settings: &ApplySettings, synchronous_commit: bool) -> String {
    format!("BEGIN; {}", local_settings(settings, synchronous_commit))
}

/// Appends one step as its own transaction: `BEGIN`, its `SET LOCAL`s, the body, the ledger
/// row (as the connecting role), the rest of [`RESET_SESSION`], the session's progress `marker` with the
/// next migration's clock, `COMMIT`. Nothing but utility statements of our own and one
/// `SELECT` around the body, so that a migration costs the server little more than the bare
/// transaction.
fn push_transaction<'a>(
    script: &mut Script<'a>,
    settings: &ApplySettings,
    step: &Step<'a>,
    index: usize,
    nonce: u64,
    prepared: bool,
) {
    script.begin_step();
    script.push_sql(&begin_sql(settings, step.synchronous_commit));
    let file = step.file();
    let marker = format!("{nonce}:{index}");
    let markers = script.push_marked_body(file, &format!("{nonce}_{index}"));
    // The last statement marker goes once the transaction is over (committed, or not: then
    // it tells that every statement completed).
    let deallocate = markers.map_or_else(String::new, |n| {
        format!(
            "\nDEALLOCATE {};",
            marker_name(&format!("{nonce}_{index}"), n)
        )
    });
    // The role is reset before the ledger row (written as the connecting role), every setting
    // after it (the row reads its clock from one). `synchronous_commit` must hold for the
    // COMMIT, so it is set again.
    // The marker is session-level and set last, so it survives COMMIT and is undone by an
    // abort: after a failure it names the last transaction of the message that committed.
    let sync = if step.synchronous_commit {
        ""
    } else {
        " SET LOCAL synchronous_commit = off;"
    };
    let next = if prepared {
        format!("EXECUTE {}_next('{marker}');", prepared_row(nonce))
    } else {
        format!(
            "SELECT pg_catalog.set_config('{MARKER}', '{marker}', false), \
             pg_catalog.set_config('{CLOCK}', {CLOCK_NOW}, false);"
        )
    };
    script.push_sql(&format!(
        "{};\nRESET ALL;{sync}\n{next}\nCOMMIT;{deallocate}",
        ledger_sql(settings, step, index, prepared.then_some(nonce))
    ));
}

/// The session setting each transaction of a message writes its `<nonce>:<index>` to.
const MARKER: &str = "confiture.step";

/// Makes markers unique per message, so that a value left by an earlier message (or an earlier
/// command on the same session) is never taken for progress of this one.
static NONCE: AtomicU64 = AtomicU64::new(1);

/// A message carrying consecutive transactional steps, each its own transaction.
struct Batch<'a> {
    script: Script<'a>,
    nonce: u64,
}

fn batch<'a>(settings: &ApplySettings, steps: &[Step<'a>]) -> Batch<'a> {
    let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
    let mut script = Script::new();
    let size: usize = steps
        .iter()
        .map(|s| s.file().text.len() + STEP_OVERHEAD)
        .sum();
    script.text.reserve(size);
    script.push_sql(&start_message());
    let prepared = prepares_rows(steps);
    if prepared {
        script.push_sql(&prepare_rows_sql(&settings.table, nonce));
    }
    for (i, step) in steps.iter().enumerate() {
        push_transaction(&mut script, settings, step, i, nonce, prepared);
    }
    if prepared {
        let row = prepared_row(nonce);
        script.push_sql(&format!("DEALLOCATE {row}; DEALLOCATE {row}_next;"));
    }
    Batch { script, nonce }
}

impl Batch<'_> {
    /// How many of the message's transactions committed, given the marker read after it failed.
    fn committed(&self, marker: Option<&str>) -> usize {
        marker
            .and_then(|m| m.split_once(':'))
            .filter(|(nonce, _)| nonce.parse() == Ok(self.nonce))
            .and_then(|(_, index)| index.parse::<usize>().ok())
            .map_or(0, |index| index + 1)
    }
}

/// Roughly what [`push_transaction`] adds to a body, for [`BatchLimits::max_bytes`].
const STEP_OVERHEAD: usize = 600;

/// The one message that runs a transactional step with its ledger row. Several of these are
/// concatenated into one message by [`run_steps`]: after an error the server skips the rest,
/// and the transactions before it stay committed.
#[cfg(test)]
pub fn transactional_script<'a>(settings: &ApplySettings, step: &Step<'a>) -> Script<'a> {
    batch(settings, std::slice::from_ref(step)).script
}

/// How many consecutive transactional migrations one message may carry. A migration marked
/// `no-transaction` always runs on its own, statement by statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// SQL bytes in one message; a larger migration is still sent, alone.
    pub max_bytes: usize,
    /// Migrations in one message (1 sends each on its own).
    pub max_steps: usize,
}

impl Default for BatchLimits {
    fn default() -> BatchLimits {
        BatchLimits {
            max_bytes: 2 * 1024 * 1024,
            max_steps: 1000,
        }
    }
}

/// What [`run_steps`] reports as it goes; the index is into its `steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEvent {
    /// The step runs now: it is sent on its own, or first in a message. A later step of the
    /// same message is announced when the message returns, just before its `Finished`.
    Started(usize),
    /// The step hit `lock_timeout` (or a deadlock) and is sent again after `delay`; `attempt`
    /// is the one that failed (1-based).
    Retrying {
        step: usize,
        attempt: u32,
        delay: Duration,
    },
    /// The step committed with its ledger row.
    Finished(usize, StepOutcome),
}

/// Where the message starting at `start` ends: consecutive transactional steps within
/// `limits`, never past a suspect step `cut` (which goes alone).
fn batch_end(steps: &[Step<'_>], start: usize, limits: BatchLimits, cut: Option<usize>) -> usize {
    let stop = match cut {
        Some(c) if c > start => c.min(steps.len()),
        Some(_) => start + 1,
        None => steps.len(),
    };
    let mut end = start;
    let mut bytes = 0;
    while end < stop && end - start < limits.max_steps.max(1) {
        let file = steps[end].file();
        if file.mode == TransactionMode::NoTransaction {
            break;
        }
        let size = file.text.len() + STEP_OVERHEAD;
        if end > start && bytes + size > limits.max_bytes {
            break;
        }
        bytes += size;
        end += 1;
    }
    end.max(start + 1)
}

/// What a failed message left in the session: the batch marker (see [`MARKER`]) and our
/// prepared statements (the statement markers, see [`STATEMENT_MARKER`], and the prepared
/// ledger rows, see [`prepared_row`]).
struct Left {
    batch: Option<String>,
    statements: Vec<String>,
}

/// After a failed message: rolls back the aborted transaction block (if any) and reads what
/// the message left, in the same round trip; then deallocates the statement markers left.
fn rollback_and_read(client: &mut Client) -> Result<Left, postgres::Error> {
    let messages = client.simple_query(&format!(
        "ROLLBACK; SELECT pg_catalog.current_setting('{MARKER}', true), \
         (SELECT pg_catalog.string_agg(name, ' ') FROM pg_catalog.pg_prepared_statements \
         WHERE pg_catalog.starts_with(name, 'confiture_'))"
    ))?;
    let row = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let batch = row.and_then(|r| r.get(0)).map(str::to_string);
    // Only names of the form ours take, so that a statement of the user's is never dropped.
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let ours = |name: &&str| {
        let marker = name.strip_prefix(STATEMENT_MARKER).is_some_and(|rest| {
            let parts: Vec<&str> = rest.split('_').collect();
            parts.len() == 3 && parts.iter().all(|p| digits(p))
        });
        let row = name
            .strip_prefix("confiture_row_")
            .is_some_and(|rest| digits(rest.strip_suffix("_next").unwrap_or(rest)));
        marker || row
    };
    let statements: Vec<String> = row
        .and_then(|r| r.get(1))
        .map(|names| names.split(' ').filter(ours).map(str::to_string).collect())
        .unwrap_or_default();
    if !statements.is_empty() {
        let sql: String = statements
            .iter()
            .map(|name| format!("DEALLOCATE {name};"))
            .collect();
        client.batch_execute(&sql)?;
    }
    Ok(Left { batch, statements })
}

/// How long each step of a message that succeeded took, from the rows its ledger statements
/// returned (the server's own measure); `None` for a step whose statement returned none (a
/// migration that ran `RESET ALL` took its clock away).
fn returned_durations(messages: &[SimpleQueryMessage], steps: usize) -> Vec<Option<Duration>> {
    let mut taken = vec![None; steps];
    for message in messages {
        let SimpleQueryMessage::Row(row) = message else {
            continue;
        };
        let ours = matches!(row.columns(), [step, ms] if step.name() == STEP_COLUMN && ms.name() == MS_COLUMN);
        if !ours {
            continue;
        }
        let index = row.get(0).and_then(|i| i.parse::<usize>().ok());
        let ms = row.get(1).and_then(|ms| ms.parse::<u64>().ok());
        if let (Some(slot), Some(ms)) = (index.and_then(|i| taken.get_mut(i)), ms) {
            *slot = Some(Duration::from_millis(ms));
        }
    }
    taken
}

/// How long the steps of a failed message that committed took: the `execution_time_ms` of
/// their rows (one query, only after a failure); `None` for rollbacks, whose rows are gone.
fn recorded_durations(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
) -> Vec<Option<Duration>> {
    let unknown = vec![None; steps.len()];
    if steps.is_empty() || steps[0].direction == Direction::Down {
        return unknown;
    }
    let versions: Vec<String> = steps
        .iter()
        .map(|s| ledger::literal(s.ledger_version))
        .collect();
    let sql = format!(
        "SELECT version, execution_time_ms FROM {} WHERE version IN ({})",
        settings.table.quoted(),
        versions.join(", ")
    );
    let Ok(messages) = client.simple_query(&sql) else {
        return unknown;
    };
    let measured: std::collections::HashMap<&str, u64> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((row.get(0)?, row.get(1)?.parse().ok()?)),
            _ => None,
        })
        .collect();
    steps
        .iter()
        .map(|s| {
            measured
                .get(s.ledger_version)
                .map(|ms| Duration::from_millis(*ms))
        })
        .collect()
}

/// Runs `steps` in order, each migration with its ledger row, and stops at the first failure,
/// returning its index. Consecutive transactional migrations travel together in one message
/// (within `limits`), each still its own transaction — `BEGIN; ...; <ledger row>; COMMIT` —
/// so one round trip applies many; `synchronous_commit` is as each step says. When a message
/// fails, the server has committed the transactions before the failing one and skipped the
/// rest: a marker each transaction leaves in the session says how far it got, so the error is
/// the right migration's, and the ones after it were never attempted. A migration that hit
/// `lock_timeout` is retried from there, up to `lock_retries` times. Never leaves the session
/// inside a transaction.
pub fn run_steps(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
    limits: BatchLimits,
    on_event: &mut dyn FnMut(StepEvent),
) -> Result<(), (usize, StepFailure)> {
    if let Some(refusal) = copy_refusal(steps) {
        return Err(refusal);
    }
    let new_backoff = || Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut next = 0;
    // The step whose Started was sent and whose Finished was not.
    let mut announced = None;
    // Attempts of the step at `next`, and the time it spent in failed ones and their waits.
    let mut attempt = 1;
    // `None` once a failed attempt's time is not known: the total would be made up.
    let mut spent = Some(Duration::ZERO);
    let mut backoff = new_backoff();
    // A step to send on its own, because a failed message could not be pinned on one step.
    let mut cut: Option<usize> = None;
    while next < steps.len() {
        if cut.is_some_and(|c| next > c) {
            cut = None;
        }
        if announced != Some(next) {
            on_event(StepEvent::Started(next));
            announced = Some(next);
        }
        if steps[next].file().mode == TransactionMode::NoTransaction {
            let outcome = run_statements(client, settings, &steps[next]).map_err(|f| (next, f))?;
            on_event(StepEvent::Finished(next, outcome));
            next += 1;
            continue;
        }
        let first = next;
        let end = batch_end(steps, first, limits, cut);
        let batch = batch(settings, &steps[first..end]);
        let start = Instant::now();
        let result = client.simple_query(batch.script.text());
        let elapsed = start.elapsed();
        let finish = |i: usize,
                      duration: Option<Duration>,
                      attempts: u32,
                      announced: &mut Option<usize>,
                      on_event: &mut dyn FnMut(StepEvent)| {
            if *announced != Some(i) {
                on_event(StepEvent::Started(i));
            }
            *announced = None;
            on_event(StepEvent::Finished(i, StepOutcome { duration, attempts }));
        };
        let e = match result {
            Ok(messages) => {
                let taken = returned_durations(&messages, end - first);
                for (i, duration) in (first..end).zip(taken) {
                    let (duration, attempts) = if i == first {
                        (duration.zip(spent).map(|(d, s)| d + s), attempt)
                    } else {
                        (duration, 1)
                    };
                    finish(i, duration, attempts, &mut announced, on_event);
                }
                next = end;
                attempt = 1;
                spent = Some(Duration::ZERO);
                backoff = new_backoff();
                continue;
            }
            Err(e) => e,
        };
        if is_connection_lost(&e) {
            return Err((first, batch_connection_lost(&steps[first..end], e)));
        }
        // The failed message left an aborted transaction block open (or none, when the server
        // could not parse it): roll back, then read how far the message got.
        let left = match rollback_and_read(client) {
            Ok(left) => left,
            Err(lost) => return Err((first, connection_lost(&steps[first], lost))),
        };
        let marker = batch.committed(left.batch.as_deref());
        let failed = (first + marker).min(end - 1);
        let committed = recorded_durations(client, settings, &steps[first..failed]);
        // The failed attempt took what the message took minus the steps that committed in it.
        let failed_attempt = committed
            .iter()
            .try_fold(elapsed, |left, d| d.map(|d| left.saturating_sub(d)));
        for (i, duration) in (first..failed).zip(committed) {
            let (duration, attempts) = if i == first {
                (duration.zip(spent).map(|(d, s)| d + s), attempt)
            } else {
                (duration, 1)
            };
            finish(i, duration, attempts, &mut announced, on_event);
        }
        if failed > first {
            attempt = 1;
            spent = Some(Duration::ZERO);
            backoff = new_backoff();
        }
        next = failed;
        // An error position outside the failing step's text means the server rejected the
        // message before running it (a syntax error further on): nothing from `failed` on ran.
        // Send the steps before the culprit together, and the culprit alone, to find it.
        if end - first > 1 {
            let at = match e.as_db_error().and_then(|db| db.position()) {
                Some(p @ ErrorPosition::Original(_)) => {
                    Some(batch.script.step_at(p).map(|s| first + s))
                }
                _ => None,
            };
            match at {
                None => {}
                Some(Some(j)) if j == failed => {}
                Some(Some(j)) if j > failed => {
                    cut = Some(j);
                    continue;
                }
                Some(_) => {
                    cut = Some(failed);
                    continue;
                }
            }
        }
        if announced != Some(failed) {
            on_event(StepEvent::Started(failed));
            announced = Some(failed);
        }
        if is_lock_contention(&e) && attempt <= settings.lock_retries {
            let delay = backoff.next_delay();
            on_event(StepEvent::Retrying {
                step: failed,
                attempt,
                delay,
            });
            std::thread::sleep(delay);
            spent = spent.zip(failed_attempt).map(|(s, f)| s + f + delay);
            attempt += 1;
            continue;
        }
        let step = &steps[failed];
        let tag = format!("{}_{}", batch.nonce, failed - first);
        let statement = failed_statement(step, &e, &left.statements, &tag);
        let unplaced =
            statement.is_none() && e.as_db_error().is_some_and(|db| db.position().is_none());
        let contended = is_lock_contention(&e);
        let mut failure = sql_failure(
            settings,
            step,
            &batch.script,
            Some(failed - first),
            e,
            statement,
        );
        if unplaced
            && failure.location.is_none()
            && failure.error.kind == ErrorKind::MigrationFailed
        {
            failure.error = failure.error.with_detail(
                "the server did not say which statement failed, and the migration is not run \
                 again to find out (its side effects outside the transaction would happen twice)",
            );
        }
        if contended && attempt > 1 {
            failure.error = failure.error.with_detail(format!(
                "gave up after {attempt} attempts (migration.lock_retries = {})",
                settings.lock_retries
            ));
        }
        failure.error = failure.error.with_detail(match step.direction {
            Direction::Up => "the migration was rolled back and is not recorded",
            Direction::Down => "the rollback was itself rolled back: the migration stays applied",
        });
        return Err((failed, failure));
    }
    Ok(())
}

/// The connection dropped while a message was running: its first step may not have committed,
/// and neither may the others it carried.
fn batch_connection_lost(steps: &[Step<'_>], e: postgres::Error) -> StepFailure {
    let mut failure = connection_lost(&steps[0], e);
    failure.unknown_fate = steps.len();
    if let (true, Some(last)) = (steps.len() > 1, steps.last()) {
        // Which of them committed is unknown: name them all (the first few and the last), not
        // just the first, which may well have committed.
        let mut names: Vec<String> = steps.iter().take(3).map(|s| s.migration.id()).collect();
        if steps.len() > 4 {
            names.push("…".to_string());
        }
        if steps.len() > 3 {
            names.push(last.migration.id());
        }
        let doing = match steps[0].direction {
            Direction::Up => "applying",
            Direction::Down => "rolling back",
        };
        failure.error.message = format!(
            "connection lost while {doing} {} migrations sent in one message ({})",
            steps.len(),
            names.join(", ")
        );
        // connection_lost's detail speaks of one migration: replaced by one for the message.
        failure.error.details.clear();
        failure.error = failure.error.with_detail(format!(
            "those the server finished before the connection dropped (from {} on, in order) are \
             committed and recorded, each with its ledger row; the one it was running did not commit",
            steps[0].migration.id()
        ));
    }
    failure
}

/// The first step that cannot run inside one transaction with the others (a file marked
/// `no-transaction`), as the failure `run_in_one_transaction` returns for it. Callers check
/// before writing anything, so that the refusal leaves the database as it was.
pub fn single_transaction_refusal(steps: &[Step<'_>]) -> Option<(usize, StepFailure)> {
    let (i, step) = steps
        .iter()
        .enumerate()
        .find(|(_, s)| s.file().mode == TransactionMode::NoTransaction)?;
    let error = Error::usage(format!(
        "--single-transaction cannot include migration {}: {} runs without a transaction",
        step.migration.id(),
        step.file().path.display()
    ))
    .with_help(format!(
        "apply it on its own first ({} with the version just before it, then {}), or drop --single-transaction",
        crate::hint::command("migrate up --target VERSION"),
        crate::hint::command("migrate up --steps 1")
    ));
    Some((
        i,
        StepFailure {
            error,
            location: None,
            server: None,
            unknown_fate: 0,
        },
    ))
}

/// The first step with a `COPY` through the client (`FROM STDIN`, `TO STDOUT`, in any form),
/// as a refusal (exit 5) before anything runs. `lint` refuses them first (C104); the engine,
/// a public API, refuses them too: the protocol would break mid-message (the server waiting
/// for rows, or sending rows nobody reads), which looks like a lost connection and may follow
/// a commit.
pub fn copy_refusal(steps: &[Step<'_>]) -> Option<(usize, StepFailure)> {
    steps.iter().enumerate().find_map(|(i, step)| {
        let file = step.file();
        // Most files never say COPY: they are not lexed again.
        let mentions_copy = file
            .text
            .as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"copy"));
        if !mentions_copy {
            return None;
        }
        let split = crate::files::lexer::split(&file.text);
        let stmt = split
            .statements
            .iter()
            .find(|s| s.copy_stream().is_some())?;
        let error = Error::invalid(format!(
            "{}:{}: COPY through the client (FROM STDIN / TO STDOUT) cannot run in a migration: \
             confiture sends SQL only",
            file.path.display(),
            stmt.line
        ))
        .with_help(
            "use INSERT ... VALUES, or COPY from/to a file on the server (`cargo confiture lint` \
             explains C104); nothing was run",
        );
        Some((
            i,
            StepFailure {
                error,
                location: Some(Location {
                    path: file.path.clone(),
                    line: stmt.line,
                    column: 1,
                }),
                server: None,
                unknown_fate: 0,
            },
        ))
    })
}

/// Runs every step in one transaction (`up --single-transaction`): all are recorded, or none.
/// Each step is its own message inside the transaction, so a failure names its migration.
/// `on_step(i, None)` announces step `i`, `on_step(i, Some(duration))` reports it done (not yet
/// committed). On failure, returns the index of the failing step.
pub fn run_in_one_transaction(
    client: &mut Client,
    settings: &ApplySettings,
    steps: &[Step<'_>],
    on_retry: &mut OnRetry<'_>,
    on_step: &mut dyn FnMut(usize, Option<Duration>),
) -> Result<(), (usize, StepFailure)> {
    if let Some(refusal) = single_transaction_refusal(steps).or_else(|| copy_refusal(steps)) {
        return Err(refusal);
    }
    let (Some(first), Some(last)) = (steps.first().copied(), steps.last().copied()) else {
        return Ok(());
    };
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
    let mut attempt = 1;
    'attempt: loop {
        let begin = format!("{RESET_SESSION} {}", begin_sql(settings, true));
        if let Err(e) = client.batch_execute(&begin) {
            return Err((0, connection_lost(&first, e)));
        }
        let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
        for (i, step) in steps.iter().enumerate() {
            on_step(i, None);
            let start = Instant::now();
            let mut script = Script::new();
            let tag = format!("{nonce}_{i}");
            push_step(&mut script, settings, step, &tag);
            let Err(e) = client.batch_execute(script.text()) else {
                on_step(i, Some(start.elapsed()));
                continue;
            };
            if is_connection_lost(&e) {
                return Err((i, connection_lost(step, e)));
            }
            let left = match rollback_and_read(client) {
                Ok(left) => left,
                Err(lost) => return Err((i, connection_lost(step, lost))),
            };
            if is_lock_contention(&e) && attempt <= settings.lock_retries {
                let delay = backoff.next_delay();
                on_retry(attempt, delay);
                std::thread::sleep(delay);
                attempt += 1;
                continue 'attempt;
            }
            let statement = failed_statement(step, &e, &left.statements, &tag);
            let mut failure = sql_failure(settings, step, &script, None, e, statement);
            failure.error = failure.error.with_detail(
                "the whole run was one transaction: it was rolled back and nothing is recorded",
            );
            return Err((i, failure));
        }
        return match client.batch_execute("COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                let i = steps.len() - 1;
                if is_connection_lost(&e) {
                    Err((i, connection_lost(&last, e)))
                } else {
                    let _ = client.batch_execute("ROLLBACK");
                    let mut f = sql_failure(settings, &last, &Script::new(), None, e, None);
                    f.error = f
                        .error
                        .with_detail("COMMIT failed (a deferred constraint?): nothing is recorded");
                    Err((i, f))
                }
            }
        };
    }
}

fn is_lock_contention(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Which statement of a transactional migration failed, when the server's error has no
/// position (a runtime error: `ALTER TABLE` on a missing table, a constraint violated by an
/// `UPDATE`): the one after the last statement marker left in the session (`markers`, the
/// step's tagged `tag`), or the only one. The migration's SQL is never run a second time to
/// find out — its side effects outside the transaction (`nextval`, `COPY ... TO PROGRAM`,
/// dblink) would happen twice. `None` when the file carried no markers (see [`pieces`]), or
/// when every statement completed: then our own SQL after the body failed.
fn failed_statement(
    step: &Step<'_>,
    error: &postgres::Error,
    markers: &[String],
    tag: &str,
) -> Option<Statement> {
    let db = error.as_db_error()?;
    if db.position().is_some() {
        return None;
    }
    if let Some(pieces) = pieces(step.file()) {
        let done = completed_statements(markers, tag);
        let piece = pieces.get(done)?;
        return Some(Statement {
            index: done + 1,
            count: pieces.len(),
            line: piece.line,
        });
    }
    let split = crate::files::lexer::split(&step.file().text);
    match split.statements.as_slice() {
        [only] => Some(Statement {
            index: 1,
            count: 1,
            line: only.line,
        }),
        _ => None,
    }
}

/// What the ledger says after a no-transaction step stopped part-way.
fn ledger_state(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "the migration is not recorded",
        Direction::Down => "the migration is still recorded as applied",
    }
}

fn connection_lost(step: &Step<'_>, e: postgres::Error) -> StepFailure {
    use crate::hint::command;
    let (doing, help) = match step.direction {
        Direction::Up => (
            "applying",
            format!(
                "run {} to see what was recorded, then {} again",
                command("migrate status"),
                command("migrate up")
            ),
        ),
        Direction::Down => (
            "rolling back",
            format!(
                "run {} to see what is recorded, then {} again if needed",
                command("migrate status"),
                command("migrate down")
            ),
        ),
    };
    let server = crate::error::ServerError::of(&e);
    let cause = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        // The socket closed without a word: the server restarted or crashed, or the network
        // dropped the connection.
        None if e.is_closed() => {
            "the server closed the connection (restarted or crashed?)".to_string()
        }
        None => e.to_string(),
    };
    let detail = match step.file().mode {
        TransactionMode::Transaction => "its transaction did not commit, unless the connection dropped just after the server committed it".to_string(),
        TransactionMode::NoTransaction => format!("statements it had completed stay committed; {}", ledger_state(step.direction)),
    };
    StepFailure {
        error: Error::connection(format!(
            "connection lost while {doing} migration {}",
            step.migration.id()
        ))
        .with_source_shown(e, cause)
        .with_detail(detail)
        .with_help(help),
        location: None,
        server,
        unknown_fate: 1,
    }
}

/// Which statement of a no-transaction file failed: 1-based index, count, first line.
struct Statement {
    index: usize,
    count: usize,
    line: u32,
}

/// A failure of migration SQL (or of our ledger statement) in a live session.
fn sql_failure(
    settings: &ApplySettings,
    step: &Step<'_>,
    script: &Script<'_>,
    step_in_script: Option<usize>,
    owned: postgres::Error,
    statement: Option<Statement>,
) -> StepFailure {
    let e = &owned;
    let id = step.migration.id();
    let file = step.file();
    let doing = match step.direction {
        Direction::Up => "migration",
        Direction::Down => "rolling back migration",
    };
    let Some(db) = e.as_db_error() else {
        return StepFailure {
            error: Error::new(ErrorKind::MigrationFailed, format!("{doing} {id} failed"))
                .with_source(owned),
            location: None,
            server: None,
            unknown_fate: 0,
        };
    };
    let code = db.code().code();
    let located = db
        .position()
        .and_then(|p| script.locate_in(p, step_in_script));
    // Our own SQL failed: a position outside the file's text, or an error the server tied to
    // the ledger table itself (a NOT NULL or CHECK constraint of its own on the row we wrote).
    let on_ledger = db.table() == Some(settings.table.name.as_str())
        && settings
            .table
            .schema
            .as_deref()
            .is_none_or(|schema| db.schema() == Some(schema));
    let in_ledger = (db.position().is_some() && located.is_none()) || on_ledger;
    // Without a position (a runtime error), a statement sent alone is still known by its line.
    let location = located.or_else(|| {
        let s = statement.as_ref()?;
        Some(Location {
            path: file.path.clone(),
            line: s.line,
            column: 1,
        })
    });
    let message = if in_ledger {
        format!(
            "{doing} {id} ran, but writing the tracking table {} failed: {}",
            settings.table,
            db.message()
        )
    } else {
        let at = match &location {
            Some(l) => format!("{}:{}:{}", l.path.display(), l.line, l.column),
            None => file.path.display().to_string(),
        };
        let stmt = statement
            .map(|s| format!(" (statement {} of {})", s.index, s.count))
            .unwrap_or_default();
        format!("{doing} {id} failed at {at}{stmt}: {}", db.message())
    };
    // The tool's own SQL failing is not the migration's fault: the ledger needs fixing (5).
    let kind = if in_ledger {
        ErrorKind::Invalid
    } else {
        ErrorKind::MigrationFailed
    };
    let mut error = Error::new(kind, message);
    error.details = server_details(db);
    error.help = Some(match code {
        "55P03" => format!(
            "another session holds a lock this migration needs (lock_timeout {}); run again when \
             it is released, or raise `migration.lock_timeout` / --lock-timeout-statement",
            human(settings.lock_timeout)
        ),
        "57014" => format!(
            "a statement ran longer than statement_timeout ({}); raise `migration.statement_timeout` \
             / --statement-timeout, or split the migration",
            settings.statement_timeout.map_or_else(|| "server default".to_string(), human)
        ),
        _ if in_ledger => format!(
            "check that {} has confiture's columns and that this role may write it",
            settings.table
        ),
        _ => format!("fix {}, then run the command again", file.path.display()),
    });
    let server = crate::error::ServerError::of(e);
    // The server's error, whole, for callers (`std::error::Error::source`).
    error.set_source(owned);
    StepFailure {
        error,
        location,
        server,
        unknown_fate: 0,
    }
}

fn server_details(db: &DbError) -> Vec<String> {
    let mut details = vec![format!("SQLSTATE {}", db.code().code())];
    if let Some(d) = db.detail() {
        details.push(format!("detail: {d}"));
    }
    if let Some(h) = db.hint() {
        details.push(format!("hint: {h}"));
    }
    if let Some(w) = db.where_() {
        details.push(format!("context: {}", w.replace('\n', "; ")));
    }
    details
}

/// An index left INVALID (by a failed or interrupted `CREATE INDEX CONCURRENTLY`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct InvalidIndex {
    /// `schema.name`, each part quoted as needed: what a `DROP INDEX` takes.
    qualified: String,
    /// The index's own name, as stored.
    name: String,
}

/// Every INVALID index of the database, outside the system schemas.
fn invalid_indexes(client: &mut Client) -> Result<Vec<InvalidIndex>, postgres::Error> {
    let messages = client.simple_query(
        "SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), \
         c.relname FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid ORDER BY 1",
    )?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(InvalidIndex {
                qualified: r.get(0)?.to_string(),
                name: r.get(1)?.to_string(),
            }),
            _ => None,
        })
        .collect())
}

/// The INVALID index a `CREATE [UNIQUE] INDEX` of `file` would create again: left by an
/// interrupted run of this very migration (client killed, server restarted), it makes the
/// statement fail with "already exists" — or, with `IF NOT EXISTS`, succeed without building
/// anything. Matched by the name the statement gives, read with the shared lexer.
fn invalid_index_recreated<'i>(
    file: &SqlFile,
    invalid: &'i [InvalidIndex],
) -> Option<&'i InvalidIndex> {
    if invalid.is_empty() {
        return None;
    }
    let split = crate::files::lexer::split(&file.text);
    split
        .statements
        .iter()
        .filter(|s| {
            s.starts_with(&["CREATE", "INDEX"]) || s.starts_with(&["CREATE", "UNIQUE", "INDEX"])
        })
        .find_map(|s| {
            s.tokens().find_map(|t| {
                let name = match t.kind {
                    TokenKind::Word => t.text.to_lowercase(),
                    TokenKind::QuotedIdent if t.text.len() >= 2 && t.text.starts_with('"') => {
                        t.text[1..t.text.len() - 1].replace("\"\"", "\"")
                    }
                    _ => return None,
                };
                invalid.iter().find(|i| i.name == name)
            })
        })
}

/// A no-transaction migration refused before it runs: it would build `index` again, which an
/// interrupted run of it left INVALID.
fn invalid_index_left_behind(step: &Step<'_>, index: &InvalidIndex) -> StepFailure {
    let error = Error::new(
        ErrorKind::MigrationFailed,
        format!(
            "migration {} creates index {}, which exists and is INVALID: a `CREATE INDEX \
             CONCURRENTLY` of an earlier run was interrupted (client killed, server restarted)",
            step.migration.id(),
            index.qualified
        ),
    )
    .with_detail(format!(
        "nothing of {} was run; {}",
        step.file().path.display(),
        ledger_state(step.direction)
    ))
    .with_help(format!(
        "drop the unfinished index, then run {} again: DROP INDEX CONCURRENTLY {};",
        crate::hint::command(match step.direction {
            Direction::Up => "migrate up",
            Direction::Down => "migrate down",
        }),
        index.qualified
    ));
    StepFailure {
        error,
        location: None,
        server: None,
        unknown_fate: 0,
    }
}

/// Statements of a file as (byte range, 1-based first line), from the shared splitter.
fn statements(file: &SqlFile) -> Vec<(Range<usize>, u32)> {
    crate::files::lexer::split(&file.text)
        .statements
        .into_iter()
        .map(|s| (s.range, s.line))
        .collect()
}

fn run_statements(
    client: &mut Client,
    settings: &ApplySettings,
    step: &Step<'_>,
) -> Result<StepOutcome, StepFailure> {
    let start = Instant::now();
    let file = step.file();
    let before = invalid_indexes(client).map_err(|e| connection_lost(step, e))?;
    if let Some(index) = invalid_index_recreated(file, &before) {
        return Err(invalid_index_left_behind(step, index));
    }
    client
        .batch_execute(&format!(
            "{RESET_SESSION} {}",
            timeouts_sql(settings, false)
        ))
        .map_err(|e| connection_lost(step, e))?;
    let parts = statements(file);
    let count = parts.len();
    for (index, (range, line)) in parts.into_iter().enumerate() {
        let Some(text) = file.text.get(range) else {
            continue;
        };
        let mut script = Script::new();
        script.push_statement(file, text, line);
        if let Err(e) = client.batch_execute(script.text()) {
            if is_connection_lost(&e) {
                return Err(connection_lost(step, e));
            }
            let statement = Statement {
                index: index + 1,
                count,
                line,
            };
            let mut failure = sql_failure(settings, step, &script, None, e, Some(statement));
            let recorded = ledger_state(step.direction);
            failure.error = failure.error.with_detail(match index {
                0 => format!("no statement of this migration was committed; {recorded}"),
                1 => format!("statement 1 was committed (this migration runs without a transaction); {recorded}"),
                k => format!("statements 1–{k} were committed (this migration runs without a transaction); {recorded}"),
            });
            let _ = client.batch_execute(RESET_SESSION);
            if let Ok(after) = invalid_indexes(client) {
                for index in after.iter().filter(|i| !before.contains(i)) {
                    failure.error = failure.error.with_detail(format!(
                        "index {0} was left INVALID by the failed build; drop it before running again: \
                         DROP INDEX CONCURRENTLY IF EXISTS {0};",
                        index.qualified
                    ));
                }
            }
            return Err(failure);
        }
    }
    let elapsed = start
        .elapsed()
        .as_millis()
        .min(i32::MAX as u128)
        .to_string();
    let record = format!(
        "{RESET_SESSION} {};",
        record_sql(&settings.table, step, &elapsed)
    );
    client.batch_execute(&record).map_err(|e| {
        if is_connection_lost(&e) {
            return connection_lost(step, e);
        }
        let mut script = Script::new();
        script.push_sql(&record);
        let mut f = sql_failure(settings, step, &script, None, e, None);
        f.error = f
            .error
            .with_detail("every statement was committed, but the migration is not recorded");
        f
    })?;
    Ok(StepOutcome {
        duration: Some(start.elapsed()),
        attempts: 1,
    })
}

/// Creates the tracking table (and its schema, when qualified) if absent. Only `up`,
/// `baseline` and `reinit` call this; `status` and dry runs never do.
///
/// Its commit is asynchronous (no WAL flush of its own): the commit of the migrations that
/// follow, or of the ledger rows `baseline` and `reinit` write, flushes it with theirs — WAL is
/// written in order — and losing an empty ledger in a crash loses nothing.
pub fn create_tracking_table(client: &mut Client, table: &TrackingTable) -> crate::Result<()> {
    let mut sql = String::from("BEGIN; SET LOCAL synchronous_commit = off;\n");
    if let Some(schema) = &table.schema {
        sql.push_str(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\";\n"));
    }
    sql.push_str(&table.create_sql());
    sql.push_str("COMMIT;");
    client.batch_execute(&sql).map_err(|e| {
        // Leave no aborted transaction block behind.
        let _ = client.batch_execute("ROLLBACK");
        let what = format!("cannot create the tracking table {table}");
        let help = "check that this role may create tables (and the schema) in the database";
        match e.as_db_error() {
            // Refused by the server (e.g. no CREATE privilege on the schema): like a migration
            // the server refused, exit 4, and the server's message names the schema.
            Some(db) if !is_connection_lost(&e) => {
                let help = if db.code() == &SqlState::INSUFFICIENT_PRIVILEGE {
                    format!(
                        "grant this role CREATE on that schema (GRANT CREATE ON SCHEMA <schema> \
                         TO <role>), or have a role that may create {table} run the first \
                         {}",
                        crate::hint::command("migrate up")
                    )
                } else {
                    help.to_string()
                };
                Error::new(
                    ErrorKind::MigrationFailed,
                    format!("{what}: {}", db.message()),
                )
                .with_detail(format!("SQLSTATE {}", db.code().code()))
                .with_help(help)
            }
            _ => query_error(&what, e).with_help(help),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::checksum;

    fn sql_file(text: &str) -> SqlFile {
        SqlFile {
            path: PathBuf::from("m/003_x.up.sql"),
            text: text.to_string(),
            checksum: checksum(text.as_bytes()),
            mode: TransactionMode::Transaction,
            irreversible: false,
        }
    }

    /// The 1-based character position of `needle` in the script, as the server reports it.
    fn position(script: &Script<'_>, needle: &str) -> u32 {
        let byte = script.text().find(needle).expect("needle in script");
        script.text()[..byte].chars().count() as u32 + 1
    }

    #[test]
    fn original_positions_map_to_file_line_and_column() {
        let file = sql_file("-- héllo wörld\nCREATE TABLE a ();\n  CREAT TABLE b ();\n");
        let mut script = Script::new();
        script.push_sql("BEGIN; SET LOCAL lock_timeout = '5000ms'; -- prelude with ünïcode");
        script.push_body(&file, &file.text, 1);
        script.push_sql("INSERT INTO t VALUES (1);");
        let loc = script
            .locate(&ErrorPosition::Original(position(&script, "CREAT TABLE b")))
            .unwrap();
        assert_eq!((loc.line, loc.column), (3, 3));
        assert_eq!(loc.path, PathBuf::from("m/003_x.up.sql"));
        let first = script
            .locate(&ErrorPosition::Original(position(&script, "-- héllo")))
            .unwrap();
        assert_eq!((first.line, first.column), (1, 1));
    }

    #[test]
    fn positions_in_our_sql_are_not_in_the_file() {
        let file = sql_file("SELECT 1;");
        let mut script = Script::new();
        script.push_sql("BEGIN;");
        script.push_body(&file, &file.text, 1);
        script.push_sql("INSERT INTO t VALUES (1);");
        assert_eq!(
            script.locate(&ErrorPosition::Original(position(&script, "INSERT"))),
            None
        );
        assert_eq!(script.locate(&ErrorPosition::Original(1)), None);
        assert_eq!(script.locate(&ErrorPosition::Original(0)), None);
        assert_eq!(script.locate(&ErrorPosition::Original(10_000)), None);
    }

    #[test]
    fn a_statement_starting_mid_file_keeps_its_file_line() {
        let file = sql_file("SELECT 1;\n\nCREATE INDEX CONCURRENTLY i\n  ON t (nope);\n");
        let start = file.text.find("CREATE").unwrap();
        let mut script = Script::new();
        script.push_body(&file, &file.text[start..], 3);
        let loc = script
            .locate(&ErrorPosition::Original(position(&script, "nope")))
            .unwrap();
        assert_eq!((loc.line, loc.column), (4, 9));
    }

    #[test]
    fn internal_positions_are_found_in_the_function_body() {
        let text = "CREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\nSELEC 2;\n$$ LANGUAGE sql;\n";
        let file = sql_file(text);
        let mut script = Script::new();
        script.push_sql("BEGIN;");
        script.push_body(&file, &file.text, 1);
        let query = "\nSELECT 1;\nSELEC 2;\n".to_string();
        let position = query.find("SELEC 2").unwrap() as u32 + 1;
        let loc = script
            .locate(&ErrorPosition::Internal { position, query })
            .unwrap();
        assert_eq!((loc.line, loc.column), (3, 1));
    }

    #[test]
    fn a_byte_order_mark_is_not_sent_and_columns_still_count_it() {
        let file = sql_file("\u{feff}CREAT TABLE a ();\n");
        let mut script = Script::new();
        script.push_body(&file, &file.text, 1);
        assert!(script.text().starts_with("CREAT"));
        let loc = script.locate(&ErrorPosition::Original(1)).unwrap();
        assert_eq!((loc.line, loc.column), (1, 2));
    }

    #[test]
    fn statement_markers_keep_positions_and_cut_only_where_safe() {
        let file = sql_file("\u{feff}SELECT 1; -- one\n  SELECT 2;\nCREAT x -- no semicolon");
        let mut script = Script::new();
        assert_eq!(script.push_marked_body(&file, "7_0"), Some(3));
        let text = script.text().to_string();
        assert!(!text.contains('\u{feff}'), "{text}");
        assert!(
            text.contains("SELECT 1;\nPREPARE confiture_at_7_0_1 AS SELECT;\n -- one\n  SELECT 2;\nPREPARE confiture_at_7_0_2 AS SELECT; DEALLOCATE confiture_at_7_0_1;\n"),
            "{text}"
        );
        assert!(text.contains("-- no semicolon\n;\nPREPARE confiture_at_7_0_3 AS SELECT; DEALLOCATE confiture_at_7_0_2;\n"), "{text}");
        let at = |needle| {
            script
                .locate(&ErrorPosition::Original(position(&script, needle)))
                .map(|l| (l.line, l.column))
        };
        assert_eq!(at("SELECT 1"), Some((1, 2)));
        assert_eq!(at("SELECT 2"), Some((2, 3)));
        assert_eq!(at("CREAT"), Some((3, 1)));
        assert_eq!(
            at("PREPARE confiture_at_7_0_2"),
            None,
            "a marker is our SQL"
        );
        assert_eq!(
            completed_statements(
                &["confiture_at_7_0_2".into(), "confiture_at_8_0_3".into()],
                "7_0"
            ),
            2
        );
        assert_eq!(completed_statements(&[], "7_0"), 0);
        for unsafe_text in [
            "SET statement_timeout = '1ms'; SELECT 2;",
            "SELECT 'a\\'; SELECT 2;",
            "SELECT 1; DeAllocate ALL;",
            "SELECT 1;",
        ] {
            assert_eq!(pieces(&sql_file(unsafe_text)), None, "{unsafe_text}");
        }
    }

    #[test]
    fn a_trailing_comment_cannot_swallow_the_ledger_row() {
        let file = sql_file("CREATE TABLE a (); -- no newline at end");
        let migration = Migration {
            version: 3,
            version_text: "003".into(),
            name: "x".into(),
            up: file.clone(),
            down: file,
        };
        let settings = ApplySettings {
            table: TrackingTable::default(),
            lock_timeout: Duration::from_millis(1500),
            statement_timeout: Some(Duration::from_micros(10)),
            lock_retries: 3,
        };
        let step = Step::up(&migration, false);
        let text = transactional_script(&settings, &step).text().to_string();
        assert!(
            text.contains(
                "-- no newline at end\n;\nRESET SESSION AUTHORIZATION; RESET ROLE; \
                 SET LOCAL lock_timeout = '1500ms'; SET LOCAL statement_timeout = '1ms';\n\
                 INSERT INTO \"tb_confiture\""
            ),
            "{text}"
        );
        assert!(text.starts_with(&start_message()), "{text}");
        assert!(text.contains("\nBEGIN; SET LOCAL lock_timeout = '1500ms'; SET LOCAL statement_timeout = '1ms'; SET LOCAL synchronous_commit = off;\n"), "{text}");
        assert!(text.trim_end().ends_with("COMMIT;"), "{text}");
        let sync = Step {
            synchronous_commit: true,
            ..step
        };
        assert!(!transactional_script(&settings, &sync)
            .text()
            .contains("synchronous_commit"));
    }
}
