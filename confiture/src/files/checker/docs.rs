//! The documentation of the file-level rules (`C001`–`C099`), in code order: what each rule
//! checks and why, as `lint --explain` and `docs/lints.md` show it.

use crate::diagnostic::{RuleDoc, Severity};

pub const MISSING_DOWN: RuleDoc = RuleDoc {
    code: "C001",
    name: "missing-down",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "an up file has no down file",
    explanation: "Every migration is a pair: `<VERSION>_<NAME>.up.sql` applies the change and \
`<VERSION>_<NAME>.down.sql` reverses it. A missing down file is found now rather than on the day \
a rollback is needed. Write the SQL that undoes the up file, in reverse order. If the change \
cannot be undone (data is destroyed), create the down file with the line \
`-- confiture:irreversible`: rolling back is then refused with exit code 8.",
};

pub const MISSING_UP: RuleDoc = RuleDoc {
    code: "C002",
    name: "missing-up",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a down file has no up file",
    explanation: "A down file without its up file is usually a rename that missed one half of the \
pair, or an up file deleted by mistake. Rename the down file to its up file's `<VERSION>_<NAME>` \
(the up file names the migration: the ledger records its name once it is applied), or restore \
the up file from version control. A down file of the version under another name is told the \
same name by `C001` on the up file, and by its own `C006` when it is misnamed too.",
};

pub const DUPLICATE_VERSION: RuleDoc = RuleDoc {
    code: "C003",
    name: "duplicate-version",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "two migrations use the same version",
    explanation: "Two branches that each added a migration with the next number were merged. \
Versions must be unique: the ledger records migrations by version, and which of the two runs \
first would be an accident. Renumber the migration that is not applied anywhere yet (usually \
the one from the branch merged last) to the next free version, which the diagnostic names \
(with a gap in the versions too, the one after the highest once the gap is settled). \
The files alone do not tell which of the two ran, so `lint` names both; `migrate status`, which \
reads the ledger, names the one to renumber (never the one the database applied), or says that \
neither is applied there. A \
confiture (Python) migration, `<VERSION>_<NAME>.py`, takes its version too: one numbered as a \
`.sql` pair (or as another `.py` file) is a duplicate, never left out.",
};

pub const VERSION_GAP: RuleDoc = RuleDoc {
    code: "C004",
    name: "version-gap",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a version is missing from the sequence",
    explanation:
        "Versions are consecutive integers. A gap usually means a migration was deleted or \
a file was renamed with the wrong number. If the deleted migration was applied to any \
database, restore it from version control: an applied migration must never be removed (to retire \
one, keep its pair with `SELECT 1;` in each file). Renumber the later migrations to close the gap \
only if they are not applied anywhere yet: a database that recorded one under its old number \
would see it as missing, and the renumbered file as never applied.",
};

pub const FIRST_VERSION: RuleDoc = RuleDoc {
    code: "C005",
    name: "first-version",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "the first version is not 1 (or the configured `first_version`)",
    explanation: "The sequence starts at version 1. A history whose old migrations were squashed \
into a schema snapshot starts later: say so with `first_version = N` in \
`[workspace.metadata.confiture]` of the workspace's Cargo.toml. Versions below `first_version` \
are errors too. Without the setting, a directory whose lowest migration is the baseline \
confiture (Python)'s `migrate squash` wrote (`-- confiture:squashed-baseline through=N`, version \
N + 1) starts at it, as `first_version = N + 1` would say, in every command.",
};

pub const BAD_FILE_NAME: RuleDoc = RuleDoc {
    code: "C006",
    name: "bad-file-name",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a `.sql` file's name is not `<VERSION>_<NAME>.up.sql` or `.down.sql`",
    explanation: "A `.sql` file in the migrations directory is meant to be a migration, so a name \
that does not follow the form is reported rather than silently skipped (a skipped migration \
never runs). VERSION is at least 3 ASCII digits (`001`), NAME is lowercase snake_case starting \
with a letter, then `.up.sql` or `.down.sql`. The diagnostic suggests the corrected name when it \
can guess it, never a name another file already has (nor one it suggests for another file), nor \
one whose version another migration has with that half (a confiture (Python) migration with \
either): a merge tool's `001_a.up_BASE_1234.sql` or a file manager's `001_a.up copy.sql` is \
told that `001_a.up.sql` has its version, and to delete it if it is a copy; nor one whose \
version comes before the first version (`0_init.up.sql` is told to take a version from `001` \
on, never `000_init.up.sql`, which `C005` refuses). A name \
that starts or ends with whitespace, a control or an invisible character (`003_c.up.sql\\r`, left \
by a script with CRLF line endings; a trailing space or no-break space) is reported too, escaped, \
with the trimmed name to rename it to. A misnamed file with a corrected name is the half and \
the version that name gives: its other half is not reported missing, its version leaves no gap, \
and no duplicate is told to move to it; a half missing under another name names it as the half it \
may be. A misnamed down file under another name than the one up file of its version that has no \
down file (`003_add_users.up.sql` beside `003_Add_User.down.sql`) is told to take that up file's \
name (`003_add_users.down.sql`), as the up file's `C001` says: the down file follows its up file. \
Names \
are ASCII: a Latin letter with a diacritic is spelt without it in the suggestion (`café` → `cafe`, \
said in the help; written decomposed, `e` then the combining mark U+0301 as macOS file systems \
store it, the mark is named by its code point and the suggestion is the same), and a letter with \
no ASCII spelling (`数`) is named rather than dropped. Files \
that do not end in `.sql` (README.md, .gitkeep) and hidden entries (a name starting with `.`: an \
editor's `.#001_a.up.sql` lock link, a swap file, `.git/`) are ignored. confiture (Python)'s \
verification sidecars, `<VERSION>_<NAME>.verify.sql` (run by `confiture migrate verify`), are \
not migrations and are ignored too; its Python migrations, `<VERSION>_<NAME>.py`, are counted \
by `migrate status` as `python` migrations that only confiture (Python) can run. A `.py` file \
whose name starts with a version and `_` (`03_d.py`, `004_E.py`) is meant to be one: a wrong \
name there is reported the same way; other `.py` files (`__init__.py`) are ignored.",
};

pub const EMPTY_UP: RuleDoc = RuleDoc {
    code: "C007",
    name: "empty-up",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "an up file has no SQL statement (only whitespace, comments or `;`), or only \
statements that change the session (`SET`, `RESET`, `set_config`)",
    explanation:
        "An up file that does nothing would still be recorded as applied, which is almost \
always a migration generated and then forgotten. So would an up file whose statements only \
change the session it runs in — `SET search_path`, `SET lock_timeout`, `SET LOCAL`, `RESET`, a \
`SELECT` of `set_config(...)` calls, a `SHOW` —: they end with the connection and change nothing \
in the database (a down file of such statements reverses nothing: `C008`). Write its SQL, or delete \
the pair if it is not needed.",
};

pub const EMPTY_DOWN: RuleDoc = RuleDoc {
    code: "C008",
    name: "empty-down",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a down file has no SQL, or only statements that change the session (`SET`, \
`RESET`, `set_config`), and is not marked `-- confiture:irreversible`",
    explanation: "An empty down file would make a rollback silently do nothing while removing the \
migration from the ledger. So would a down file whose statements only change the session it runs \
in — `SET`, `SET LOCAL`, `RESET`, a `SELECT` of `set_config(...)` calls, a `SHOW`, pg_dump's \
preamble —: they end with the connection and reverse nothing. Write the SQL that reverses the up file, or, \
if the change cannot be reversed, add the line `-- confiture:irreversible` at the top of the \
file, before its first statement: rolling back is then refused with exit code 8.",
};

pub const INVALID_UTF8: RuleDoc = RuleDoc {
    code: "C009",
    name: "invalid-utf8",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a migration file is not valid UTF-8",
    explanation: "Migration files are UTF-8 text. A file saved in another encoding (Latin-1, \
UTF-16) would send different characters to the database than the ones you see. Convert it to \
UTF-8; the diagnostic gives the line of the first invalid byte.",
};

pub const UNREADABLE_FILE: RuleDoc = RuleDoc {
    code: "C010",
    name: "unreadable-file",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "an entry of the migrations directory cannot be read",
    explanation:
        "Permissions, a broken symbolic link or a symbolic-link loop keep a file from being \
read, and a directory named like a migration file (`002_x.up.sql/`) is not a file. It may be a \
migration, so it is an error rather than skipped; a broken link is named with where it points. \
Only an entry named like a migration file (a `.sql` file's, or confiture (Python)'s \
`<VERSION>_<NAME>.py`) can be refused: a broken `notes.md` link or an editor's `.#001_a.up.sql` lock link is ignored, as \
the same name is when it is a readable file (rule C006). Fix the permissions or the link, or put \
the migration's file in place of a directory, FIFO or device. A symbolic link that resolves \
under `/proc`, `/sys` or `/dev`, or a file on their file systems, is refused before it is read: \
such a file is the system's (`/proc/self/environ` is the process's environment, secrets \
included), never a migration, and a diagnostic would quote it; a link to a regular file \
elsewhere is read as its target. Remove the \
entry only if it is no migration: an applied migration whose file is removed is `missing`, and \
`reinit` would forget that it ran (`migrate status` shows a migration whose files cannot be read \
as `unreadable`).",
};

pub const MIXED_VERSION_WIDTH: RuleDoc = RuleDoc {
    code: "C011",
    name: "mixed-version-width",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "versions are zero-padded to different widths",
    explanation: "Versions compare as integers, so `0004` and `005` are in the right order for \
confiture, but the files no longer sort in order in a directory listing, and the ledger keeps \
the version text as written. Rename the odd one out if it is not applied anywhere yet. The \
width most versions have wins (confiture (Python)'s `.py` migrations count, though only `.sql` \
pairs are reported), and `migrate generate` pads the next version to it, so the pair it writes \
is never the odd one out.",
};

pub const SUBDIRECTORY: RuleDoc = RuleDoc {
    code: "C012",
    name: "subdirectory",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "the migrations directory has a subdirectory, which is not read",
    explanation: "Migrations are read from the migrations directory itself, not from \
subdirectories, so migrations placed in one never run. Move them up into the migrations \
directory, or move the subdirectory elsewhere. The `archive` subdirectory beside a squashed \
baseline of confiture (Python) (`-- confiture:squashed-baseline`) is not reported: its \
`migrate squash` moves the migrations it squashed there.",
};

pub const CRLF_LINE_ENDINGS: RuleDoc = RuleDoc {
    code: "C013",
    name: "crlf-line-endings",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "a migration file has CRLF line endings",
    explanation: "The ledger's checksum is taken over the file's raw bytes, so a checkout that \
converts line endings (git's `core.autocrlf`) makes an applied migration look modified. Convert \
the file to LF line endings (when it was applied from LF bytes, `migrate status` says it differs \
only by line endings, and LF is what the ledger records; keep CRLF only if it was applied with \
CRLF bytes everywhere), and add `*.sql -text` to `.gitattributes` so that every checkout has \
the same bytes.",
};

pub const BYTE_ORDER_MARK: RuleDoc = RuleDoc {
    code: "C014",
    name: "byte-order-mark",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "a migration file starts with a UTF-8 byte-order mark",
    explanation:
        "Editors add or drop a byte-order mark silently, which changes the checksum of an \
applied migration (the ledger's checksum covers the up file's raw bytes). Save the file without \
a byte-order mark if it is not applied anywhere yet; `migrate status` says whether it is applied \
on its database; where an applied file's mark went anyway, `migrate status` says it differs \
only by its byte-order mark and `migrate reinit` records it. A down file's bytes are in no \
checksum: its mark may always go.",
};

pub const NUL_BYTE: RuleDoc = RuleDoc {
    code: "C015",
    name: "nul-byte",
    severity: Severity::Error,
    help_names_allow: false,
    summary: "a migration file contains a NUL byte",
    explanation: "PostgreSQL's protocol ends a query's text at a NUL byte (`\\0`), so a file \
holding one cannot be sent at all: the run would stop there, after the migrations before it. \
Such a byte is invisible in most editors; it comes from a copy and paste, a binary dump or a \
file saved as UTF-16. The diagnostic gives its line and column: remove it.",
};

pub const LONE_CR_LINE_ENDINGS: RuleDoc = RuleDoc {
    code: "C016",
    name: "lone-cr-line-endings",
    severity: Severity::Warning,
    help_names_allow: false,
    summary:
        "a migration file has lone CR line endings (a CR without LF, as classic Mac OS wrote them)",
    explanation: "PostgreSQL's scanner ends a line at a carriage return (CR) as at a line feed \
(LF): a `--` comment stops there, and the text after it is SQL the server runs. The linter reads \
the file the same way, but most tools see no line break at a lone CR (one not followed by LF): \
git and diff tools show the file as one line, a terminal draws the text after the CR over the \
text before it (`DROP TABLE a;` then a CR and `-- a comment` shows as the comment alone). \
The line numbers of diagnostics and of failures count a lone CR as a line end, as the server's \
do: in such a file they name lines an editor may not show. The diagnostic gives the first lone \
CR's line and column. Convert the file to LF line endings if it \
is not applied anywhere yet (the ledger's checksum covers the up file's raw bytes); a CR that is \
data in a string can be written `E'\\r'`.",
};

pub const LONG_NAME: RuleDoc = RuleDoc {
    code: "C017",
    name: "long-name",
    severity: Severity::Warning,
    help_names_allow: false,
    summary: "a migration's name is longer than the 200 bytes `migrate generate` accepts",
    explanation: "`migrate generate` refuses a name longer than 200 bytes: with its version and \
`.down.sql`, a longer one comes near the 255 bytes a file name may have on most file systems, \
and the ledger's `name` column is `VARCHAR(255)`. A pair named by hand is held to the same \
limit, as a warning: the name says what the migration changes, the SQL says how, and a table \
of `migrate status` or `migrate verify` cuts a long one. Rename the pair to a shorter name if it \
is not applied anywhere yet (history checks match migrations by name: an applied one renamed is \
`renumbered` or `missing`).",
};

/// In code order: the source of `files::FILE_RULES`.
pub const ALL: &[RuleDoc] = &[
    MISSING_DOWN,
    MISSING_UP,
    DUPLICATE_VERSION,
    VERSION_GAP,
    FIRST_VERSION,
    BAD_FILE_NAME,
    EMPTY_UP,
    EMPTY_DOWN,
    INVALID_UTF8,
    UNREADABLE_FILE,
    MIXED_VERSION_WIDTH,
    SUBDIRECTORY,
    CRLF_LINE_ENDINGS,
    BYTE_ORDER_MARK,
    NUL_BYTE,
    LONE_CR_LINE_ENDINGS,
    LONG_NAME,
];
