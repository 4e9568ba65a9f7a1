//! [`Script`]: a simple-query message under construction that remembers where each file's text
//! sits in it, so that the server's error position (a 1-based character offset into the whole
//! message) maps back to file, line and column, and to the step it falls in.

use std::ops::Range;

use postgres::error::ErrorPosition;
use postgres::{Client, SimpleQueryMessage};

use super::failure::statement_start;
use super::markers::{after_statement, pieces};
use super::Location;
use crate::files::SqlFile;

/// Whether the server placed `db`'s error in the message we sent (`ErrorPosition::Original`).
/// An *internal* position (`internal_position` / `internal_query`) points into SQL the
/// message ran indirectly — a PL/pgSQL `DO` block's or a function's body, dynamic SQL — so the
/// error is the failure of the statement that ran it, never of our own SQL around the file's:
/// the one place that decides this, for the step it falls in, the statement markers and the
/// exit code.
pub(super) fn placed_in_message(db: &postgres::error::DbError) -> bool {
    matches!(db.position(), Some(ErrorPosition::Original(_)))
}

/// The size above which a script carrying statement markers is sent as several messages, cut
/// after a marker (see [`Script::send`]). The server copies the whole text of a message into
/// every `PREPARE` of it, so a message's markers cost `markers x message size`: quadratic in
/// the file's size when one message carries it all (40,000 one-line `INSERT`s took minutes).
/// Bounded messages make it linear; `docs/benchmarks.md` has the measures behind the value.
pub(super) const MESSAGE_BUDGET: usize = 64 * 1024;

/// A setting of the session that decides how the server reads the SQL of every later message:
/// changed, the rest of a migration is no longer read as lint and the dry run read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingSetting {
    /// Not the UTF8 the driver sends: non-ASCII text is decoded as another encoding.
    ClientEncoding,
    /// Not the `on` our sessions set in their startup packet
    /// ([`crate::db::connect::STANDARD_STRINGS_OPTION`]): a backslash in a `'...'` string is
    /// read as an escape.
    StandardConformingStrings,
}

impl ReadingSetting {
    /// The setting's name, as PostgreSQL spells it.
    pub fn name(self) -> &'static str {
        match self {
            ReadingSetting::ClientEncoding => "client_encoding",
            ReadingSetting::StandardConformingStrings => "standard_conforming_strings",
        }
    }

    /// The value every session of ours keeps: the driver's encoding, strings read as written.
    fn expected(self) -> &'static str {
        match self {
            ReadingSetting::ClientEncoding => UTF8,
            ReadingSetting::StandardConformingStrings => "on",
        }
    }

    /// What the server would have done to the rest of a migration, read with the setting
    /// changed.
    pub fn consequence(self) -> &'static str {
        match self {
            ReadingSetting::ClientEncoding => {
                "the server would have read the rest of it, sent in a later message, in that \
                 encoding, not as the UTF-8 confiture sends, and stored its non-ASCII text garbled"
            }
            ReadingSetting::StandardConformingStrings => {
                "the server would have read the rest of it, sent in a later message, with \
                 backslashes in '...' strings as escapes, and stored them other than as lint and \
                 the dry run read them"
            }
        }
    }

    /// Every such setting, in the order [`READING_SQL`] reads them.
    const ALL: [ReadingSetting; 2] = [
        ReadingSetting::ClientEncoding,
        ReadingSetting::StandardConformingStrings,
    ];
}

/// A setting that decides how the server reads SQL ([`ReadingSetting`]) was found changed
/// between two messages of one script: the server would read the next one differently from
/// what we send (a migration longer than one message that ran `UPDATE pg_settings`,
/// `set_config` or a function setting it). Nothing more was sent; the transaction is still
/// open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingChanged {
    /// The setting found changed.
    pub setting: ReadingSetting,
    /// Its value in the session, as the server spells it (`LATIN1`, `off`).
    pub value: String,
    /// Which statements of the migration may have changed it, as [`Script::send`] knows: those
    /// of the message before the settings were read. `None` when the caller places it (a
    /// no-transaction migration's, read after each statement).
    pub by: Option<ChangedBy>,
}

impl ReadingChanged {
    /// The statement that changed the setting, when it is known for certain
    /// ([`ChangedBy::Statement`]): where a failure is placed.
    pub(super) fn statement(&self) -> Option<&Location> {
        match &self.by {
            Some(ChangedBy::Statement(at)) => Some(at),
            _ => None,
        }
    }
}

/// The statements of a transactional migration a [`ReadingChanged`] was made by: those the
/// message sent before the settings were read carried (a change in an earlier message was
/// found before this one was sent; one made by an earlier migration of the message was undone
/// by the `RESET ALL` after its ledger row). The server reports the settings only at the end
/// of a message, and the migration's statements are never run again to find out (their side
/// effects outside the transaction would happen twice): when that message carried several, no
/// one of them is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedBy {
    /// The message carried one statement of the migration: this one, where it starts.
    Statement(Location),
    /// The message carried `count` statements of the migration, from the one starting at
    /// `first` to the one starting at `last`: one of them.
    OneOf {
        first: Location,
        last: Location,
        count: usize,
    },
}

impl std::fmt::Display for ReadingChanged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the session's {} is {}; confiture sends its SQL for {}",
            self.setting.name(),
            crate::display::escape(&self.value),
            self.setting.expected()
        )?;
        match &self.by {
            None => Ok(()),
            Some(ChangedBy::Statement(at)) => {
                write!(f, "; its statement at line {} changed it", at.line)
            }
            Some(ChangedBy::OneOf { first, last, count }) => write!(
                f,
                "; one of its {count} statements on lines {} to {} changed it, which one is not \
                 known: they were sent in one message, and the server says how it reads SQL \
                 only at the end of a message",
                first.line, last.line
            ),
        }
    }
}

impl std::error::Error for ReadingChanged {}

/// Why [`Script::send`] stopped.
#[derive(Debug)]
pub(super) enum SendError {
    /// The server refused a message, or the connection failed.
    Driver(postgres::Error),
    /// See [`ReadingChanged`]; the messages before were sent and ran.
    ReadingChanged(ReadingChanged),
}

impl From<ReadingChanged> for SendError {
    fn from(e: ReadingChanged) -> SendError {
        SendError::ReadingChanged(e)
    }
}

impl From<postgres::Error> for SendError {
    fn from(e: postgres::Error) -> SendError {
        SendError::Driver(e)
    }
}

/// The encoding the driver speaks, as the server names it.
const UTF8: &str = "UTF8";

/// The session's `client_encoding` and `standard_conforming_strings` ([`ReadingSetting`]),
/// asked before a message that continues a script: the server reads a message with the
/// settings the session has when it arrives, and reports a change only in a message
/// (`ParameterStatus`) the driver keeps to itself.
pub(super) fn check_reading(client: &mut Client) -> Result<(), SendError> {
    let messages = client.simple_query(READING_SQL)?;
    Ok(reading_of(&messages)?)
}

/// The statement that reads the settings of [`ReadingSetting`]: one row, a column each, in
/// the order of [`ReadingSetting::ALL`].
pub(super) const READING_SQL: &str = "SELECT pg_catalog.current_setting('client_encoding'), \
     pg_catalog.current_setting('standard_conforming_strings')";

/// The condition, in SQL, that the session still reads SQL as we send it (every
/// [`ReadingSetting`] as expected): what [`reading_of`] decides, for a statement to be made
/// only then.
pub(super) fn reads_as_sent() -> String {
    let each: Vec<String> = ReadingSetting::ALL
        .iter()
        .map(|s| {
            format!(
                "pg_catalog.current_setting('{}') OPERATOR(pg_catalog.=) '{}'",
                s.name(),
                s.expected()
            )
        })
        .collect();
    each.join(" AND ")
}

/// Whether the settings [`READING_SQL`] read (the first row of `messages`) are still those we
/// send SQL for: the first that is not is the error. **The** rule of [`check_reading`], and of
/// a message that reads them along with other checks (a no-transaction migration's, between
/// two statements).
pub(super) fn reading_of(messages: &[SimpleQueryMessage]) -> Result<(), ReadingChanged> {
    let Some(row) = messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    }) else {
        return Ok(());
    };
    for (i, setting) in ReadingSetting::ALL.into_iter().enumerate() {
        match row.get(i) {
            Some(value) if value != setting.expected() => {
                return Err(ReadingChanged {
                    setting,
                    value: value.to_string(),
                    by: None,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// A simple-query message under construction. Offsets are in characters, as the server counts
/// error positions.
#[derive(Debug, Default)]
pub struct Script<'a> {
    text: String,
    chars: usize,
    bodies: Vec<Body<'a>>,
    /// Where each step of a message carrying several begins (character offsets, ascending).
    steps: Vec<usize>,
    /// Where the text may be cut into messages sent one after the other, ascending: right
    /// after a statement marker, between two statements of a transactional migration, inside
    /// its transaction; and after the end of a migration's transaction (see
    /// [`Script::end_transaction`]).
    cuts: Vec<Cut>,
    /// The character offset of the message [`Script::send`] sent last: the server's error
    /// positions count from there, after its [`Script::label`].
    sent_from: usize,
    /// The characters of the [`Script::label`] that began the message sent last: the server
    /// counts them in its error positions, and they are not in [`Script::text`].
    label_chars: usize,
    /// Our own SQL the next message sent begins with, after its label
    /// ([`Script::begin_with`]).
    first: String,
}

/// A place where [`Script::send`] may start a new message.
#[derive(Debug, Clone, Copy)]
struct Cut {
    bytes: usize,
    chars: usize,
    /// After the end of a transaction that began at this byte: taken whenever that
    /// transaction was cut, so that no later migration shares a message with part of it (a
    /// syntax error there would reject that message, and the migration would be sent again,
    /// its earlier parts, and their side effects outside the transaction, a second time).
    ends_from: Option<usize>,
}

#[derive(Debug)]
pub(super) struct Body<'a> {
    /// Character range of the body in the message.
    chars: Range<usize>,
    /// Byte range of the body in the message.
    bytes: Range<usize>,
    file: &'a SqlFile,
    /// The byte offset in its file's text of the body's first byte: where a position in the
    /// body is in the file, whose line and column [`crate::text::line_col`] counts.
    file_start: usize,
    /// The step (see [`Script::begin_step`]) the body belongs to.
    step: usize,
    /// The index in its file's statements of the one statement the body is, when it is one
    /// piece of a marked body ([`Script::push_marked_body`]).
    statement: Option<usize>,
}

impl<'a> Script<'a> {
    pub fn new() -> Script<'a> {
        Script::default()
    }

    #[cfg(test)]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Has the first message [`Script::send`] sends begin with `sql`, our own statements (each
    /// ended by `;`), after its label and before the text: what must travel with it, not in a
    /// round trip of its own before it (the idle timeouts a wait turned off,
    /// [`crate::db::IdleRestore`]). Positions in it are ours, as the label's.
    pub(super) fn begin_with(&mut self, sql: &str) {
        self.first = format!("{sql}\n");
    }

    /// Makes room for `bytes` more of text.
    pub(super) fn reserve(&mut self, bytes: usize) {
        self.text.reserve(bytes);
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
        let offset = self.offset_of(*p)?;
        Some(
            self.steps
                .partition_point(|&start| start <= offset)
                .saturating_sub(1),
        )
    }

    /// The character offset in [`Script::text`] of the server's 1-based position `p` in the
    /// message sent last: after its [`Script::label`] (a position inside the label is `None`,
    /// as one outside the message).
    fn offset_of(&self, p: u32) -> Option<usize> {
        let offset = (p as usize).checked_sub(1)?.checked_sub(self.label_chars)? + self.sent_from;
        (offset < self.chars).then_some(offset)
    }

    /// The comment that begins each message sent of the text's `bytes`, naming the migration
    /// files whose text it carries — the first and the last, and how many, when it carries
    /// several: `pg_stat_activity.query` shows a query's first `track_activity_query_size`
    /// bytes (1 kB by default) only, and a message of migrations begins with the engine's own
    /// statements. Empty for a message carrying no file's text. A name is [`label_name`].
    pub(super) fn label(&self, bytes: &Range<usize>) -> String {
        let mut inside = self.bodies.iter().filter(|b| {
            b.bytes.start < bytes.end && (b.bytes.end > bytes.start || b.bytes.start >= bytes.start)
        });
        let Some(first) = inside.next() else {
            return String::new();
        };
        let last = inside.next_back().unwrap_or(first);
        if last.step == first.step {
            format!("/* confiture: {} */\n", label_name(first.file))
        } else {
            format!(
                "/* confiture: {} .. {} ({} migrations) */\n",
                label_name(first.file),
                label_name(last.file),
                last.step - first.step + 1
            )
        }
    }

    /// Sends the script as one message, beginning with its [`Script::label`], its rows
    /// discarded: a statement of a no-transaction migration, which must go alone.
    pub(super) fn send_alone(&mut self, client: &mut Client) -> Result<(), postgres::Error> {
        let label = self.label(&(0..self.text.len()));
        self.sent_from = 0;
        self.label_chars = label.chars().count();
        client.batch_execute(&format!("{label}{}", self.text))
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

    /// Appends the text of `file` from byte `from` to its end (the whole body: 0), then
    /// `\n;\n`: the newline ends a trailing `-- comment` that would otherwise swallow the
    /// terminator and whatever we append next.
    pub fn push_body(&mut self, file: &'a SqlFile, from: usize) {
        self.push_file_text(file, from..file.text.len());
        self.push_raw("\n;\n");
    }

    /// Appends one statement of `file`, its bytes `range`, as is (a statement may start
    /// mid-line, after the one before it): sent alone, it must stay a single statement (two
    /// would make an implicit transaction block, which `CREATE INDEX CONCURRENTLY` refuses).
    pub fn push_statement(&mut self, file: &'a SqlFile, range: Range<usize>) {
        self.push_file_text(file, range);
    }

    /// Appends a transactional migration's whole body like [`Script::push_body`], with a
    /// statement marker after each statement when [`pieces`] allows them: the failed
    /// statement is then known from what the server did before the error (see
    /// [`super::markers::STATEMENT_MARKER`]). Returns how many markers it sent, when it sent
    /// any; the caller deallocates the last one once the step's transaction is over.
    /// `last_too`: a single statement gets its marker too ([`pieces`]).
    pub(super) fn push_marked_body(
        &mut self,
        file: &'a SqlFile,
        tag: &str,
        last_too: bool,
    ) -> Option<usize> {
        let Some(pieces) = pieces(file, last_too) else {
            self.push_body(file, 0);
            return None;
        };
        for (k, piece) in pieces.iter().enumerate() {
            self.push_file_text(file, piece.range.clone());
            if let Some(body) = self.bodies.last_mut() {
                body.statement = Some(k);
            }
            // The newline ends a trailing `-- comment`; an unterminated last statement gets
            // its `;`.
            self.push_raw(if piece.terminated { "\n" } else { "\n;\n" });
            self.push_sql(&after_statement(tag, k + 1, pieces.len()));
            if k + 1 < pieces.len() {
                self.cuts.push(Cut {
                    bytes: self.text.len(),
                    chars: self.chars,
                    ends_from: None,
                });
            }
        }
        Some(pieces.len())
    }

    /// Marks the end of a transaction that began at byte `began` of the text (its `BEGIN`):
    /// when [`Script::send`] cut it, what follows goes in a message of its own.
    pub(super) fn end_transaction(&mut self, began: usize) {
        self.cuts.push(Cut {
            bytes: self.text.len(),
            chars: self.chars,
            ends_from: Some(began),
        });
    }

    /// The text's length in bytes: where what is pushed next begins.
    pub(super) fn byte_len(&self) -> usize {
        self.text.len()
    }

    /// Where the text is cut into messages: when it carries statement markers, at the first
    /// cut past each [`MESSAGE_BUDGET`] bytes of a message, and after a transaction that was
    /// cut; a text without markers, or a small one, is one message. Only markers make a
    /// message's size cost more than linear time: a message of migrations without any (a
    /// batch of one-statement files, up to [`super::BatchLimits`]) cut at the end of a
    /// transaction past the budget cost a round trip per cut, and one more for the settings
    /// asked before each continuation ([`check_reading`]), for nothing.
    fn messages(&self) -> Vec<(Range<usize>, usize)> {
        let mut messages = Vec::new();
        let (mut start, mut start_chars) = (0, 0);
        let marked = self.cuts.iter().any(|cut| cut.ends_from.is_none());
        for cut in self.cuts.iter().filter(|_| marked) {
            let split = cut.ends_from.is_some_and(|began| start > began);
            if cut.bytes > start && (split || cut.bytes - start >= MESSAGE_BUDGET) {
                messages.push((start..cut.bytes, start_chars));
                (start, start_chars) = (cut.bytes, cut.chars);
            }
        }
        if start < self.text.len() || messages.is_empty() {
            messages.push((start..self.text.len(), start_chars));
        }
        messages
    }

    /// Sends the script: one message, or, when it carries statement markers past
    /// [`MESSAGE_BUDGET`], several cut between two statements of a migration (never inside
    /// one: the cuts are the markers', see [`pieces`]), one after the other, inside the
    /// migration's transaction. The first that fails stops it (the transaction is then aborted,
    /// as the one message would have left it), and the server's error positions in it map back
    /// through [`Script::step_at`] and [`Script::locate_in`] as in the one message. A session
    /// whose `client_encoding` or `standard_conforming_strings` a message changed stops it
    /// before the next ([`SendError::ReadingChanged`]). Returns what every message returned, in order: every
    /// row is kept, so only for a script whose migrations return none
    /// ([`super::decide::Cost::returns_rows`]), whose rows are ours.
    pub(super) fn send(
        &mut self,
        client: &mut Client,
    ) -> Result<Vec<SimpleQueryMessage>, SendError> {
        let mut returned = Vec::new();
        self.send_each(client, |client, message| {
            returned.extend(client.simple_query(message)?);
            Ok(())
        })?;
        Ok(returned)
    }

    /// [`Script::send`], every row the server returns discarded as it arrives (the driver's
    /// `batch_execute`): memory stays the same whatever a migration's statements return.
    pub(super) fn send_discarding_rows(&mut self, client: &mut Client) -> Result<(), SendError> {
        self.send_each(client, |client, message| client.batch_execute(message))
    }

    /// Sends each message; before each one after the first, asks how the session reads SQL
    /// ([`check_reading`]): a change there would have the server read the rest otherwise than
    /// as sent. The change is said to be the work of the statements the message before carried
    /// ([`Script::changed_by`]).
    fn send_each(
        &mut self,
        client: &mut Client,
        mut send: impl FnMut(&mut Client, &str) -> Result<(), postgres::Error>,
    ) -> Result<(), SendError> {
        let mut before = 0..0;
        let mut resumed = false;
        let mut first = std::mem::take(&mut self.first);
        for (i, (bytes, chars)) in self.messages().into_iter().enumerate() {
            if i > 0 {
                check_reading(client).map_err(|e| match e {
                    SendError::ReadingChanged(changed) => {
                        SendError::ReadingChanged(ReadingChanged {
                            by: self.changed_by(&before),
                            ..changed
                        })
                    }
                    e => e,
                })?;
            }
            before = bytes.clone();
            // A message that ends inside a migration's transaction leaves it idle until the
            // next one: the user's `idle_in_transaction_session_timeout` (the migration's own
            // `SET`, its `RESET ALL` under a database's value) is off across the pause, and
            // the migration's own value back for the rest of its statements
            // ([`super::sql::suspend_idle_timeout`]).
            let suspends = self.inside_transaction_at(bytes.end);
            let label = self.label(&bytes);
            let resume = if resumed {
                super::sql::RESUME_IDLE_TIMEOUT
            } else {
                first.as_str()
            };
            let suspend = if suspends {
                super::sql::suspend_idle_timeout()
            } else {
                ""
            };
            self.sent_from = chars;
            self.label_chars = label.chars().count() + resume.chars().count();
            if label.is_empty() && resume.is_empty() && suspend.is_empty() {
                send(client, &self.text[bytes])?;
            } else {
                send(
                    client,
                    &format!("{label}{resume}{}{suspend}", &self.text[bytes]),
                )?;
            }
            resumed = suspends;
            first.clear();
        }
        Ok(())
    }

    /// Whether the text is cut at byte `at` between two statements of a migration, inside its
    /// transaction (a statement marker's cut, never the end of a transaction).
    fn inside_transaction_at(&self, at: usize) -> bool {
        self.cuts
            .iter()
            .any(|cut| cut.bytes == at && cut.ends_from.is_none())
    }

    /// Which statements of a migration may have changed how the session reads SQL, found
    /// after the message of the text's `bytes` ([`ChangedBy`]): those of the last migration
    /// it carried (earlier ones there ended with a `RESET ALL`), each a marked statement — a
    /// message is cut only after a statement marker. `None` when it carried none, or a body
    /// that is not one statement.
    fn changed_by(&self, bytes: &Range<usize>) -> Option<ChangedBy> {
        let inside = |b: &&Body<'_>| b.bytes.start >= bytes.start && b.bytes.end <= bytes.end;
        let last = self.bodies.iter().rfind(inside)?;
        let mut statements = self
            .bodies
            .iter()
            .filter(inside)
            .filter(|b| b.step == last.step)
            .map(|b| b.statement);
        let first = statements.next()??;
        let mut end = first;
        for statement in statements {
            end = statement?;
        }
        let file = last.file;
        let start = |k: usize| Some(statement_start(file, file.statements.get(k)?));
        Some(match end == first {
            true => ChangedBy::Statement(start(first)?),
            false => ChangedBy::OneOf {
                first: start(first)?,
                last: start(end)?,
                count: end - first + 1,
            },
        })
    }

    /// Appends the bytes `range` of `file`'s text. A position in them is mapped back to the
    /// file by their offset there ([`Body::location`]).
    fn push_file_text(&mut self, file: &'a SqlFile, range: Range<usize>) {
        // A byte-order mark is part of the checksum, not of the SQL: the server would read it
        // as part of an identifier.
        let start = range.start.max(crate::text::bom_len(&file.text));
        let text = file.text.get(start..range.end).unwrap_or_default();
        let start_chars = self.chars;
        let start_bytes = self.text.len();
        self.push_raw(text);
        self.bodies.push(Body {
            chars: start_chars..self.chars,
            bytes: start_bytes..self.text.len(),
            file,
            file_start: start,
            step: self.steps.len().saturating_sub(1),
            statement: None,
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
    pub(super) fn locate_in(
        &self,
        position: &ErrorPosition,
        step: Option<usize>,
    ) -> Option<Location> {
        let in_step = |b: &&Body<'_>| step.is_none_or(|s| b.step == s);
        match position {
            ErrorPosition::Original(p) => {
                let offset = self.offset_of(*p)?;
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

/// A file's name as [`Script::label`] writes it inside its comment: control and invisible
/// characters escaped ([`crate::display::escape`]), and every `*` written `\x2a`, so that no
/// name ends the comment (`*/`) or opens a nested one (`/*`: the server's comments nest, and
/// the rest of the message would be read as comment).
fn label_name(file: &SqlFile) -> String {
    let name = crate::display::file_name(&file.path);
    crate::display::escape(&name).replace('*', "\\x2a")
}

impl Body<'_> {
    /// The file, line and column of the character `char_offset` of the body's `body_text`: its
    /// offset in the file, located by [`crate::text::line_col`], the one count of lines and
    /// columns (a byte-order mark takes no column, a lone CR ends a line, a CRLF once), the
    /// linter's and the server's.
    fn location(&self, body_text: &str, char_offset: usize) -> Location {
        let at = (body_text.char_indices().nth(char_offset)).map_or(body_text.len(), |(at, _)| at);
        let (line, column) = crate::text::line_col(&self.file.text, self.file_start + at);
        Location {
            path: self.file.path.clone(),
            line,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use postgres::error::ErrorPosition;
    use std::path::PathBuf;

    use super::super::markers::{completed_statements, pieces};
    use super::super::test_file as sql_file;
    use super::*;

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
        script.push_body(&file, 0);
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

    /// The server's position in a file with lone CR line endings, or CRLF, is on the line
    /// PostgreSQL (psql's `LINE n`) and the linter count: a lone CR ends a line, a CRLF once.
    #[test]
    fn positions_count_a_lone_cr_as_a_line_break() {
        for (text, line) in [
            ("-- one\rCREATE TABLE a ();\r  CREAT TABLE b ();\r", 3),
            ("-- one\r\nCREATE TABLE a ();\r\n  CREAT TABLE b ();\r\n", 3),
            ("-- one\n\rCREATE TABLE a ();\r\n\r  CREAT TABLE b ();", 5),
        ] {
            let file = sql_file(text);
            let mut script = Script::new();
            script.push_sql("BEGIN;");
            script.push_body(&file, 0);
            let loc = script
                .locate(&ErrorPosition::Original(position(&script, "CREAT TABLE b")))
                .unwrap();
            assert_eq!((loc.line, loc.column), (line, 3), "{text:?}");
        }
    }

    #[test]
    fn positions_in_our_sql_are_not_in_the_file() {
        let file = sql_file("SELECT 1;");
        let mut script = Script::new();
        script.push_sql("BEGIN;");
        script.push_body(&file, 0);
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
        script.push_body(&file, start);
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
        script.push_body(&file, 0);
        let query = "\nSELECT 1;\nSELEC 2;\n".to_string();
        let position = query.find("SELEC 2").unwrap() as u32 + 1;
        let loc = script
            .locate(&ErrorPosition::Internal { position, query })
            .unwrap();
        assert_eq!((loc.line, loc.column), (3, 1));
    }

    /// A byte-order mark is not sent, and takes no column: the failure's `file:1:1` is the
    /// linter's (`Span`, `text::line_col`), not one to the right of it.
    #[test]
    fn a_byte_order_mark_is_not_sent_and_takes_no_column() {
        let file = sql_file("\u{feff}CREAT TABLE a ();\n");
        let mut script = Script::new();
        script.push_body(&file, 0);
        assert!(script.text().starts_with("CREAT"));
        let loc = script.locate(&ErrorPosition::Original(1)).unwrap();
        assert_eq!((loc.line, loc.column), (1, 1));
    }

    /// Every server position in a file's text — sent whole, cut by statement markers, or one
    /// statement alone (a no-transaction file's) — is the file's line and column as
    /// `text::line_col` counts them, the linter's: with a byte-order mark, CRLF and lone CR
    /// line endings, characters of several bytes, statements starting mid-line.
    #[test]
    fn every_position_is_located_as_the_linter_locates_it() {
        for text in [
            "\u{feff}SELECT nosuchcol FROM pg_class;\n",
            "\u{feff}SELECT 1; SELECT 'é';\r\n  SELECT 2;\rSELECT x -- no semicolon",
            "SELECT 'ü'; SELECT 2;\n\n  CREATE INDEX i ON t (c);\r\nSELECT 3;",
            "\u{feff}\u{feff}SELECT 1;",
        ] {
            let file = sql_file(text);
            let expected = |at: usize| crate::text::line_col(&file.text, at);
            let mut ways: Vec<Script<'_>> = Vec::new();
            let mut whole = Script::new();
            whole.push_sql("BEGIN; -- ours, with ünïcode");
            whole.push_body(&file, 0);
            ways.push(whole);
            let mut marked = Script::new();
            marked.push_marked_body(&file, "7_0", false);
            ways.push(marked);
            for span in &file.statements {
                let mut alone = Script::new();
                alone.push_statement(&file, span.range.clone());
                ways.push(alone);
            }
            for script in &ways {
                // Each body's characters, found in the script, are where the file has them.
                for body in &script.bodies {
                    let sent = &script.text[body.bytes.clone()];
                    for (k, (at, _)) in sent.char_indices().enumerate() {
                        let position = (body.chars.start + k + 1) as u32;
                        let loc = script.locate(&ErrorPosition::Original(position)).unwrap();
                        assert_eq!(
                            (loc.line, loc.column),
                            expected(body.file_start + at),
                            "{text:?} at {at} of {sent:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn statement_markers_keep_positions_and_cut_only_where_safe() {
        let file = sql_file("\u{feff}SELECT 1; -- one\n  SELECT 2;\nCREAT x -- no semicolon");
        let mut script = Script::new();
        assert_eq!(script.push_marked_body(&file, "7_0", false), Some(3));
        let text = script.text().to_string();
        assert!(!text.contains('\u{feff}'), "{text}");
        assert!(
            text.contains("SELECT 1;\nPREPARE confiture_at_7_0_1 AS SELECT; PREPARE confiture_at_7_0_0 AS SELECT;\n -- one\n  SELECT 2;\nPREPARE confiture_at_7_0_2 AS SELECT; DEALLOCATE confiture_at_7_0_0;\n"),
            "{text}"
        );
        assert!(text.contains("-- no semicolon\n;\nPREPARE confiture_at_7_0_3 AS SELECT; DEALLOCATE confiture_at_7_0_1;\n"), "{text}");
        let at = |needle| {
            script
                .locate(&ErrorPosition::Original(position(&script, needle)))
                .map(|l| (l.line, l.column))
        };
        assert_eq!(
            at("SELECT 1"),
            Some((1, 1)),
            "a byte-order mark takes no column"
        );
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
            assert_eq!(pieces(&sql_file(unsafe_text), false), None, "{unsafe_text}");
        }
        // A single statement is marked only where the tracking table has triggers on its rows.
        assert_eq!(
            pieces(&sql_file("SELECT 1;"), true).map(|p| p.len()),
            Some(1)
        );
        assert_eq!(pieces(&sql_file("SELECT 'a\\';"), true), None);
    }

    #[test]
    fn a_long_marked_script_is_cut_into_bounded_messages_between_statements() {
        // Statements with `;` in a dollar-quoted body and in a string, over several lines.
        let statement = "CREATE FUNCTION f() RETURNS int AS $b$ SELECT 1; $b$ LANGUAGE sql;\n\
                         INSERT INTO t VALUES ('x;\ny');\n";
        let text = statement.repeat(5 * MESSAGE_BUDGET / statement.len());
        let file = sql_file(&text);
        let mut script = Script::new();
        script.push_sql("BEGIN;");
        assert!(script.push_marked_body(&file, "7_0", false).is_some());
        script.push_sql("COMMIT;");
        let messages = script.messages();
        assert!(messages.len() >= 4, "{} messages", messages.len());
        let mut joined = String::new();
        for (bytes, chars) in &messages {
            let message = &script.text()[bytes.clone()];
            assert_eq!(chars, &script.text()[..bytes.start].chars().count());
            assert!(
                message.len() < MESSAGE_BUDGET + 2 * statement.len(),
                "{}",
                message.len()
            );
            if bytes.start > 0 {
                // Right after a marker: between two statements, never inside one.
                let before = &script.text()[..bytes.start];
                let last_line = before.trim_end_matches('\n').rsplit('\n').next().unwrap();
                assert!(
                    last_line.starts_with("PREPARE confiture_at_7_0_"),
                    "{last_line}"
                );
                assert!(
                    message.starts_with(" -- ")
                        || message.starts_with("INSERT")
                        || message.starts_with("\nCREATE")
                        || message.starts_with("\nINSERT"),
                    "{message:.40}"
                );
            }
            joined.push_str(message);
        }
        assert_eq!(joined, script.text());
        // A position the server gives in a later message is found in the file.
        let (bytes, chars) = messages.last().unwrap().clone();
        let message = script.text()[bytes.clone()].to_string();
        let at = message.find("INSERT").unwrap();
        script.sent_from = chars;
        let loc = script
            .locate(&ErrorPosition::Original(
                message[..at].chars().count() as u32 + 1,
            ))
            .unwrap();
        let in_file = script.text()[..bytes.start + at]
            .matches("\nINSERT")
            .count();
        assert_eq!(loc.line as usize, 3 * in_file + 2, "the INSERT's line");
        assert_eq!(loc.column, 1);
        // The migration after one that was cut goes in a message of its own; after one that
        // was not, with it.
        let small = sql_file("SELECT 1;\nSELECT 2;\n");
        let next = sql_file("SELECT 3;\nSELECT 4;\n");
        for (first, cut) in [(&file, true), (&small, false)] {
            let mut two = Script::new();
            for f in [first, &next] {
                two.begin_step();
                let began = two.byte_len();
                two.push_sql("BEGIN;");
                two.push_marked_body(f, "7_0", false);
                two.push_sql("COMMIT;");
                two.end_transaction(began);
            }
            two.push_sql("RESET ALL;");
            let messages = two.messages();
            let last = &two.text()[messages.last().unwrap().0.clone()];
            assert_eq!(last.starts_with("BEGIN;\nSELECT 3;"), cut, "{last:.60}");
            assert_eq!(messages.len() == 1, !cut);
        }
        // A small script, or one without markers, is one message.
        let mut unmarked = Script::new();
        unmarked.push_body(&file, 0);
        assert_eq!(unmarked.messages().len(), 1);
    }

    /// A batch of migrations without statement markers (one-statement files) longer than the
    /// budget was cut at the end of a transaction past each 64 KiB: four more messages and
    /// four encoding round trips for 1,000 one-row migrations. With one marked migration
    /// among them, the batch is bounded again (its markers copy their message's text).
    #[test]
    fn a_long_batch_without_markers_is_one_message() {
        let one = sql_file("INSERT INTO t (id, note) VALUES (1, 'a row of the benchmark');\n");
        let marked = sql_file("SELECT 1;\nSELECT 2;\n");
        fn batch<'a>(files: &[&'a SqlFile]) -> Script<'a> {
            let mut script = Script::new();
            for (i, f) in files.iter().enumerate() {
                script.begin_step();
                let began = script.byte_len();
                script.push_sql("BEGIN;");
                script.push_marked_body(f, &format!("7_{i}"), false);
                script.push_sql(&"-- the ledger row and what goes with it\n".repeat(8));
                script.push_sql("COMMIT;");
                script.end_transaction(began);
            }
            script
        }
        let mut files = vec![&one; 1_000];
        let unmarked = batch(&files);
        assert!(unmarked.text().len() > 4 * MESSAGE_BUDGET);
        assert_eq!(unmarked.messages().len(), 1);
        files[500] = &marked;
        let mixed = batch(&files);
        let messages = mixed.messages();
        assert!(messages.len() >= 4, "{} messages", messages.len());
        assert!(messages
            .iter()
            .all(|(bytes, _)| bytes.len() < MESSAGE_BUDGET + 1024));
    }

    /// Every message begins with a comment naming the files it runs, which the server counts
    /// in its error positions: a position maps to the same file, line and column with the
    /// comment as without it, one inside the comment is ours, and no file name ends the
    /// comment or opens a nested one.
    #[test]
    fn each_message_is_labelled_and_positions_skip_the_label() {
        let mut a = sql_file("SELECT 1;\n  CREAT TABLE b ();\n");
        a.path = PathBuf::from("m/001_a*\\*y.up.sql");
        let mut b = sql_file("SELECT 2;\n");
        b.path = PathBuf::from("m/002_b\u{7}.up.sql");
        let mut c = sql_file("SELECT 3;\n");
        c.path = PathBuf::from("m/003_c.up.sql");
        let mut script = Script::new();
        script.push_sql("RESET ALL; -- ours");
        for f in [&a, &b, &c] {
            script.begin_step();
            script.push_sql("BEGIN;");
            script.push_body(f, 0);
            script.push_sql("COMMIT;");
        }
        let all = 0..script.text().len();
        let label = script.label(&all);
        assert_eq!(
            label,
            "/* confiture: 001_a\\x2a\\\\x2ay.up.sql .. 003_c.up.sql (3 migrations) */\n"
        );
        let inner = &label[2..label.len() - 3];
        assert!(!inner.contains('*'), "{label}");
        let second = script.text().find("BEGIN;\nSELECT 2").unwrap();
        let third = script.text().find("BEGIN;\nSELECT 3").unwrap();
        let b_label = script.label(&(second..third));
        assert!(b_label.starts_with("/* confiture: 002_b\\"), "{b_label}");
        assert!(!b_label.contains('\u{7}'), "{b_label}");
        assert_eq!(
            script.label(&(0..second)),
            "/* confiture: 001_a\\x2a\\\\x2ay.up.sql */\n"
        );
        let ours = script.text().find("COMMIT;").unwrap();
        assert_eq!(
            script.label(&(ours..ours + 7)),
            "",
            "no file's text: no label"
        );
        // The server's position counts the label's characters.
        let at = position(&script, "CREAT TABLE b");
        for label_chars in [0, label.chars().count()] {
            script.label_chars = label_chars;
            let loc = script
                .locate(&ErrorPosition::Original(at + label_chars as u32))
                .unwrap();
            assert_eq!((loc.line, loc.column), (2, 3), "{label_chars}");
            assert_eq!(
                script.step_at(&ErrorPosition::Original(at + label_chars as u32)),
                Some(0)
            );
            let in_c = position(&script, "SELECT 3") + label_chars as u32;
            assert_eq!(script.step_at(&ErrorPosition::Original(in_c)), Some(2));
        }
        assert_eq!(
            script.locate(&ErrorPosition::Original(1)),
            None,
            "in the label"
        );
        assert_eq!(
            script.step_at(&ErrorPosition::Original(1)),
            None,
            "in the label"
        );
    }

    /// A change of how the session reads SQL is the work of the statements of the last
    /// migration the message before carried: the one statement there, placed at its start, or
    /// several, none named — never a statement of an earlier migration of that message.
    #[test]
    fn a_reading_changed_is_the_last_migrations_statements_of_the_message_before() {
        let earlier = sql_file("CREATE TABLE a ();\nCREATE TABLE b ();\n");
        let later = sql_file("SELECT 1;\n  SELECT 2;\nSELECT 3;\n");
        let mut script = Script::new();
        script.begin_step();
        script.push_marked_body(&earlier, "t0", false);
        script.begin_step();
        script.push_marked_body(&later, "t1", false);
        let all = 0..script.text().len();
        let at = |line, column| Location {
            path: later.path.clone(),
            line,
            column,
        };
        assert_eq!(
            script.changed_by(&all),
            Some(ChangedBy::OneOf {
                first: at(1, 1),
                last: at(3, 1),
                count: 3
            })
        );
        let text = script.text();
        let second = text.find("\n  SELECT 2").unwrap()..text.find("\nSELECT 3").unwrap();
        assert_eq!(
            script.changed_by(&second),
            Some(ChangedBy::Statement(at(2, 3)))
        );
        // The prelude of a message, none of a file's text: nothing to name.
        assert_eq!(script.changed_by(&(0..0)), None);
    }
}
