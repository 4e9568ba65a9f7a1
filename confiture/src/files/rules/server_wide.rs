//! C120 `server-wide-effect`, and the one reading of "what in a migration reaches the whole
//! server, not its database" ([`server_wide`]): `ALTER SYSTEM`, replication slots, `COPY ...
//! PROGRAM`, `COPY ... TO` a server file, roles, role memberships, tablespaces, databases,
//! privileges on parameters, `postgres_fdw` servers (a connection to another database), and
//! the functions that act on the server (`pg_reload_conf`, `pg_terminate_backend`, `dblink`,
//! ...). lint warns on the first three in any migration; `migrate
//! verify` and `migrate drift` refuse all of them before replaying on the target's own server
//! (`crate::verify`), where a scratch database does not contain them.

use super::lexer::{self, Token, TokenKind};
use super::{in_code, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C120",
    name: "server-wide-effect",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`ALTER SYSTEM`, a replication slot function or `COPY ... PROGRAM`: a change to the whole server, not to the migration's database",
    explanation: "\
A migration's transaction covers its database. `ALTER SYSTEM` writes the server's
`postgresql.auto.conf` (in force at the next reload or restart, for every database), a
replication slot makes the server keep its WAL until the slot is dropped (a forgotten one fills
the disk), and `COPY ... TO | FROM PROGRAM` runs a command on the database host: none of them is
undone by rolling back or by dropping the database, and none belongs to the schema a migration
describes. `migrate verify` and `migrate drift` replay migrations on a scratch database of the
target's own server unless `--scratch-url` names another: they refuse a migration with such a
statement there (exit 5), naming its file and line.

Flagged, in up and down files: `ALTER SYSTEM`; a call of `pg_create_physical_replication_slot`,
`pg_create_logical_replication_slot`, `pg_drop_replication_slot`,
`pg_copy_physical_replication_slot`, `pg_copy_logical_replication_slot` or
`pg_replication_slot_advance`; `COPY ... TO PROGRAM` and `COPY ... FROM PROGRAM`. Also inside a `DO` block's or a function's
body, dollar-quoted or `'...'` (`E'...'` with its backslash escapes), and inside a `'...'`
string of such a body (a statement `EXECUTE` may run): a name built at run time (`'pg_create_'
|| kind`) is not seen.

**Fix:** configure the server, its slots and its host outside the migrations (the DBA's
configuration management); allow it with `-- confiture:allow(server-wide-effect)` when the
migration must, and verify with `--scratch-url` naming a throwaway server.",
};

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if !may_warn(cx, stmt.text) {
        return;
    }
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let mut found = Vec::new();
    scan(&tokens, &mut found);
    for (at, _, effect) in found {
        if !effect.always_warned() {
            continue;
        }
        let line_start = at.min(stmt.range.end);
        out.push(
            cx.diagnostic(
                &DOC,
                line_start..stmt.range.end.max(line_start),
                format!(
                    "{} changes the whole server, not the migration's database: no rollback or \
                 dropped database undoes it",
                    effect.describe()
                ),
                "do it outside the migrations (the server's configuration), or allow it with \
             `-- confiture:allow(server-wide-effect)`; verify such a migration with \
             `--scratch-url` naming a throwaway server"
                    .to_string(),
            ),
        );
    }
}

/// The words of the effects lint warns about ([`Effect::always_warned`]), in any ASCII case:
/// `ALTER SYSTEM`, the [`SLOT_FUNCTIONS`], `COPY ... PROGRAM`.
const WARNED_WORDS: [&str; 3] = ["system", "replication_slot", "program"];

/// Whether `text` (a statement's) may hold an effect lint warns about, without reading its
/// tokens: most statements of a directory spell none of [`WARNED_WORDS`], and reading each
/// one's tokens and bodies was half of what the SQL rules cost `status` and `lint`. A text
/// with a backslash (`E'\123YSTEM'`, `U&'\0053YSTEM'`) or with a line break and a quote (a
/// continuation, `'ALTER SYS'⏎'TEM ...'`) may spell one out of pieces in a string a body
/// runs: it is read as before, whatever it spells.
fn may_warn(cx: &Context<'_>, text: &str) -> bool {
    WARNED_WORDS.iter().any(|word| cx.mentioned_in(text, word))
        || text.contains('\\')
        || (text.contains('\'') && text.contains(['\n', '\r']))
}

/// One statement (or call) of a migration whose effect is the server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// `ALTER SYSTEM ...`.
    AlterSystem,
    /// A call of a replication slot function (its name).
    ReplicationSlot(&'static str),
    /// `COPY ... TO | FROM PROGRAM`.
    CopyProgram,
    /// `COPY ... TO 'file'`: a file written on the server's host.
    CopyToFile,
    /// A call of a function that acts on the server or its sessions (its name).
    ServerFunction(&'static str),
    /// `CREATE | ALTER | DROP ROLE`, `COMMENT ON ROLE`, `REASSIGN | DROP OWNED BY`: the
    /// statement and the roles it names (`current_user` for `CURRENT_USER`, `SESSION_USER`,
    /// `CURRENT_ROLE`, and `all` for `ALTER ROLE ALL`; none when they are not written out).
    Role {
        statement: &'static str,
        roles: Vec<String>,
    },
    /// A role membership granted or revoked (`GRANT r TO u`, `REVOKE r FROM u`, `ALTER GROUP g
    /// ADD USER u`): the roles granted and those they are granted to.
    Membership {
        statement: &'static str,
        granted: Vec<String>,
        grantees: Vec<String>,
    },
    /// `CREATE | ALTER | DROP TABLESPACE`, `COMMENT ON TABLESPACE`, `GRANT ... ON TABLESPACE`.
    Tablespace {
        statement: &'static str,
        names: Vec<String>,
    },
    /// `ALTER | DROP DATABASE`, `COMMENT ON DATABASE`, `GRANT ... ON DATABASE`.
    Database {
        statement: &'static str,
        names: Vec<String>,
    },
    /// `CREATE DATABASE`: a database the run cannot take back.
    CreateDatabase,
    /// `GRANT | REVOKE ... ON PARAMETER`.
    ParameterPrivilege,
    /// `CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw` (or a wrapper name it cannot
    /// read), `CREATE FOREIGN DATA WRAPPER ... HANDLER postgres_fdw_handler`: a connection to
    /// another database, by default one of the same server, whose foreign tables the replay
    /// writes for real. (`dblink_fdw` has no handler: only the `dblink` functions use it, and
    /// they are [`Effect::ServerFunction`]s.) The statement, as a message names it.
    ForeignServer(String),
}

/// Replication slot functions: a slot keeps WAL on the server until dropped.
const SLOT_FUNCTIONS: [&str; 6] = [
    "pg_create_physical_replication_slot",
    "pg_create_logical_replication_slot",
    "pg_drop_replication_slot",
    "pg_copy_physical_replication_slot",
    "pg_copy_logical_replication_slot",
    "pg_replication_slot_advance",
];

/// Functions that act on the server, its configuration, host or other sessions, or on its
/// replication origins (the server's, like slots: a leftover one makes the next
/// `pg_replication_origin_create` of that name fail).
const SERVER_FUNCTIONS: [&str; 16] = [
    "pg_replication_origin_create",
    "pg_replication_origin_drop",
    "pg_replication_origin_advance",
    "pg_reload_conf",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_backup_start",
    "pg_start_backup",
    "pg_file_write",
    "lo_export",
    "dblink_exec",
    "dblink_connect",
    "dblink_connect_u",
    "dblink",
];

impl Effect {
    /// Whether it reaches the server whatever it names (lint's warning, and `verify`'s refusal
    /// without looking at the server).
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    pub(crate) fn always(&self) -> bool {
        !matches!(
            self,
            Effect::Role { .. }
                | Effect::Membership { .. }
                | Effect::Tablespace { .. }
                | Effect::Database { .. }
        )
    }

    /// Whether a rollback of the transaction it ran in leaves it done: a command run on the
    /// host (`COPY ... PROGRAM`), a file written there (`COPY ... TO`, `lo_export`,
    /// `pg_file_write`), another connection's work (`dblink`), a signal or a reload sent, a
    /// replication slot or origin, and what cannot run in a transaction at all (`ALTER
    /// SYSTEM`, `CREATE DATABASE`: it commits on its own). Roles, memberships, privileges,
    /// tablespaces' and databases' attributes and foreign servers are catalog rows a rollback
    /// takes back (a foreign table's writes through `postgres_fdw` are its remote
    /// transaction's, rolled back with ours). The one answer to "would running this migration
    /// again, after its transaction was rolled back, do something twice?": the engine retries
    /// no such migration after a lock timeout (`db::apply::decide::LastingEffect`). Sequence
    /// functions are not server-wide and not here: a `nextval` of a rolled-back attempt only
    /// leaves a gap, as every rollback does, and a `setval` run again sets the same value.
    #[cfg_attr(not(feature = "db"), allow(dead_code))]
    pub(crate) fn survives_rollback(&self) -> bool {
        match self {
            Effect::AlterSystem
            | Effect::ReplicationSlot(_)
            | Effect::CopyProgram
            | Effect::CopyToFile
            | Effect::ServerFunction(_)
            | Effect::CreateDatabase => true,
            Effect::Role { .. }
            | Effect::Membership { .. }
            | Effect::Tablespace { .. }
            | Effect::Database { .. }
            | Effect::ParameterPrivilege
            | Effect::ForeignServer(_) => false,
        }
    }

    /// The effects lint warns about in any migration: those no migration should need.
    fn always_warned(&self) -> bool {
        matches!(
            self,
            Effect::AlterSystem | Effect::ReplicationSlot(_) | Effect::CopyProgram
        )
    }

    /// How a message names it: `ALTER SYSTEM`, `pg_drop_replication_slot()`, `DROP ROLE app`.
    pub(crate) fn describe(&self) -> String {
        let list = |names: &[String]| {
            if names.is_empty() {
                "(a name computed at run time)".to_string()
            } else {
                names.join(", ")
            }
        };
        match self {
            Effect::AlterSystem => "ALTER SYSTEM".into(),
            Effect::ReplicationSlot(f) | Effect::ServerFunction(f) => format!("{f}()"),
            Effect::CopyProgram => "COPY ... PROGRAM".into(),
            Effect::CopyToFile => "COPY ... TO a file on the server".into(),
            Effect::Role { statement, roles } => format!("{statement} {}", list(roles)),
            Effect::Membership {
                statement,
                granted,
                grantees,
            } => format!(
                "{statement} of role {} to {}",
                list(granted),
                list(grantees)
            ),
            Effect::Tablespace { statement, names } | Effect::Database { statement, names } => {
                format!("{statement} {}", list(names))
            }
            Effect::CreateDatabase => "CREATE DATABASE".into(),
            Effect::ParameterPrivilege => "GRANT | REVOKE ... ON PARAMETER".into(),
            Effect::ForeignServer(statement) => format!(
                "{statement} (a connection to another database, by default of the same \
                 server, written through for real)"
            ),
        }
    }
}

/// Every server-wide effect of a migration file's `text` (without its byte-order mark): its
/// 1-based line, whether it was found inside a dollar-quoted body or a `'...'` string (a `DO`
/// block's or a function's statements, an `EXECUTE`d text: counted, as they may run), and
/// the effect. Conservative: a textual match in a body counts whether or not it runs.
#[cfg_attr(not(feature = "db"), allow(dead_code))]
pub(crate) fn server_wide(text: &str) -> Vec<(u32, bool, Effect)> {
    let split = lexer::split(text);
    let mut found = Vec::new();
    for stmt in &split.statements {
        let tokens: Vec<Token<'_>> = stmt.tokens().collect();
        scan(&tokens, &mut found);
    }
    let bytes = text.as_bytes();
    found
        .into_iter()
        .map(|(at, in_body, effect)| (crate::text::line_of(bytes, at), in_body, effect))
        .collect()
}

/// The effects in `tokens` (one statement's, no trivia; offsets in the file) and in the code
/// they hold ([`in_code`]: a dollar-quoted or `'...'` body, a string in one), each with the
/// byte offset where it starts and whether it is in a body.
fn scan(tokens: &[Token<'_>], out: &mut Vec<(usize, bool, Effect)>) {
    in_code::<()>(tokens, &mut |tokens, in_body| {
        for i in 0..tokens.len() {
            if let Some(effect) = effect_at(tokens, i) {
                out.push((tokens[i].start, in_body, effect));
            }
        }
        None
    });
}

/// The words after which `name(` declares or names an object of that name rather than
/// calling it: `CREATE TABLE name (`, `DROP FUNCTION IF EXISTS name(`, `INSERT INTO name (`.
const DECLARING: [&str; 16] = [
    "TABLE",
    "FUNCTION",
    "PROCEDURE",
    "ROUTINE",
    "AGGREGATE",
    "VIEW",
    "TYPE",
    "INDEX",
    "SEQUENCE",
    "TRIGGER",
    "EXISTS",
    "ON",
    "INTO",
    "REFERENCES",
    "STATISTICS",
    "DOMAIN",
];

/// Whether the (possibly schema-qualified) name ending at `tokens[i]` follows a word of
/// [`DECLARING`]: not a call.
fn declared(tokens: &[Token<'_>], i: usize) -> bool {
    let mut first = i;
    while first >= 2 && tokens[first - 1].kind == TokenKind::Dot {
        first -= 2;
    }
    first > 0 && DECLARING.iter().any(|w| tokens[first - 1].is_word(w))
}

/// A word at `tokens[i]` equal to `keyword`.
fn word(tokens: &[Token<'_>], i: usize, keyword: &str) -> bool {
    tokens.get(i).is_some_and(|t| t.is_word(keyword))
}

/// The identifiers from `tokens[i]` on, separated by commas: `a, "B", c` → `a`, `B`, `c`.
/// `CURRENT_USER`, `CURRENT_ROLE` and `SESSION_USER` are `current_user`.
fn identifiers(tokens: &[Token<'_>], mut i: usize) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    while let Some(name) = tokens.get(i).and_then(|t| syntax::resolved(t)) {
        let name = match name.as_ref() {
            "current_role" | "session_user" => "current_user".to_string(),
            _ => name.into_owned(),
        };
        names.push(name);
        i += 1;
        if tokens.get(i).is_some_and(|t| t.kind == TokenKind::Comma) {
            i += 1;
        } else {
            break;
        }
    }
    (names, i)
}

/// The tokens of the statement `tokens[i]` starts, up to its `;` (a body holds several).
fn to_semicolon<'t, 'a>(tokens: &'t [Token<'a>], i: usize) -> &'t [Token<'a>] {
    let rest = &tokens[i..];
    let end = rest
        .iter()
        .position(|t| t.kind == TokenKind::Semicolon)
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The effect whose statement (or call) starts at `tokens[i]`, if any.
fn effect_at(tokens: &[Token<'_>], i: usize) -> Option<Effect> {
    let t = &tokens[i];
    // A call: `name(`, also schema-qualified (`pg_catalog.name(`) or quoted.
    if tokens
        .get(i + 1)
        .is_some_and(|n| n.kind == TokenKind::OpenParen)
        && !declared(tokens, i)
    {
        if let Some(f) = SLOT_FUNCTIONS.into_iter().find(|f| syntax::names(t, f)) {
            return Some(Effect::ReplicationSlot(f));
        }
        if let Some(f) = SERVER_FUNCTIONS.into_iter().find(|f| syntax::names(t, f)) {
            return Some(Effect::ServerFunction(f));
        }
    }
    if t.kind != TokenKind::Word {
        return None;
    }
    // A keyword that is a column or a qualified name's part (`t.grant`) starts nothing.
    if i > 0 && tokens[i - 1].kind == TokenKind::Dot {
        return None;
    }
    let is_role_word =
        |j: usize| word(tokens, j, "ROLE") || word(tokens, j, "USER") || word(tokens, j, "GROUP");
    let mapping = |j: usize| word(tokens, j, "USER") && word(tokens, j + 1, "MAPPING");
    if t.is_word("ALTER") && word(tokens, i + 1, "SYSTEM") {
        return Some(Effect::AlterSystem);
    }
    // The `DROP USER u` of `ALTER GROUP g DROP USER u`: the membership read at its `ALTER`.
    if t.is_word("DROP")
        && i >= 3
        && tokens[i - 3].is_word("ALTER")
        && tokens[i - 2].is_word("GROUP")
        && syntax::resolved(&tokens[i - 1]).is_some()
    {
        return None;
    }
    for (verb, statement) in [
        ("CREATE", "CREATE ROLE"),
        ("ALTER", "ALTER ROLE"),
        ("DROP", "DROP ROLE"),
    ] {
        if !(t.is_word(verb) && is_role_word(i + 1) && !mapping(i + 1)) {
            continue;
        }
        let mut j = i + 2;
        if verb == "DROP" && word(tokens, j, "IF") && word(tokens, j + 1, "EXISTS") {
            j += 2;
        }
        // `ALTER GROUP g ADD | DROP USER a, b`: a membership.
        if verb == "ALTER" && word(tokens, i + 1, "GROUP") {
            let (group, k) = identifiers(tokens, j);
            if (word(tokens, k, "ADD") || word(tokens, k, "DROP")) && word(tokens, k + 1, "USER") {
                let (users, _) = identifiers(tokens, k + 2);
                return Some(Effect::Membership {
                    statement: "ALTER GROUP",
                    granted: group,
                    grantees: users,
                });
            }
        }
        let (mut roles, _) = identifiers(tokens, j);
        if verb != "DROP" {
            roles.truncate(1);
        }
        return Some(Effect::Role { statement, roles });
    }
    if (t.is_word("REASSIGN") || t.is_word("DROP"))
        && word(tokens, i + 1, "OWNED")
        && word(tokens, i + 2, "BY")
    {
        let (mut roles, k) = identifiers(tokens, i + 3);
        if word(tokens, k, "TO") {
            roles.extend(identifiers(tokens, k + 1).0);
        }
        let statement = if t.is_word("DROP") {
            "DROP OWNED BY"
        } else {
            "REASSIGN OWNED BY"
        };
        return Some(Effect::Role { statement, roles });
    }
    if t.is_word("COMMENT") && word(tokens, i + 1, "ON") {
        let (names, _) = identifiers(tokens, i + 3);
        if word(tokens, i + 2, "ROLE") {
            return Some(Effect::Role {
                statement: "COMMENT ON ROLE",
                roles: names,
            });
        }
        if word(tokens, i + 2, "DATABASE") {
            return Some(Effect::Database {
                statement: "COMMENT ON DATABASE",
                names,
            });
        }
        if word(tokens, i + 2, "TABLESPACE") {
            return Some(Effect::Tablespace {
                statement: "COMMENT ON TABLESPACE",
                names,
            });
        }
    }
    if word(tokens, i + 1, "TABLESPACE") {
        let verbs = [
            ("CREATE", "CREATE TABLESPACE"),
            ("ALTER", "ALTER TABLESPACE"),
            ("DROP", "DROP TABLESPACE"),
        ];
        if let Some((statement, names)) = one_object(tokens, i, &verbs) {
            return Some(Effect::Tablespace { statement, names });
        }
    }
    if word(tokens, i + 1, "DATABASE") {
        if t.is_word("CREATE") {
            return Some(Effect::CreateDatabase);
        }
        let verbs = [("ALTER", "ALTER DATABASE"), ("DROP", "DROP DATABASE")];
        if let Some((statement, names)) = one_object(tokens, i, &verbs) {
            return Some(Effect::Database { statement, names });
        }
    }
    if t.is_word("GRANT") || t.is_word("REVOKE") {
        return grant(to_semicolon(tokens, i));
    }
    if t.is_word("CREATE") && (word(tokens, i + 1, "SERVER") || word(tokens, i + 1, "FOREIGN")) {
        return foreign_server(to_semicolon(tokens, i));
    }
    if t.is_word("COPY") {
        return copy(to_semicolon(tokens, i));
    }
    None
}

/// `VERB OBJECT [IF EXISTS] name` starting at `tokens[i]` (the object's keyword at `i + 1`,
/// already matched): the statement `verbs` gives the verb, and the one name it acts on —
/// `None` when the verb is none of `verbs`.
fn one_object(
    tokens: &[Token<'_>],
    i: usize,
    verbs: &[(&str, &'static str)],
) -> Option<(&'static str, Vec<String>)> {
    let &(_, statement) = verbs.iter().find(|(verb, _)| tokens[i].is_word(verb))?;
    let mut j = i + 2;
    if word(tokens, j, "IF") && word(tokens, j + 1, "EXISTS") {
        j += 2;
    }
    let (mut names, _) = identifiers(tokens, j);
    names.truncate(1);
    Some((statement, names))
}

/// `GRANT | REVOKE ...` (its tokens, up to its `;`): privileges on a database, tablespace or
/// parameter, or a role membership (no `ON`).
fn grant(tokens: &[Token<'_>]) -> Option<Effect> {
    let revoke = tokens[0].is_word("REVOKE");
    let mut depth = 0u32;
    let mut on = None;
    let mut to = None;
    for (j, t) in tokens.iter().enumerate() {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            TokenKind::Word if depth == 0 => {
                if t.is_word("ON") && on.is_none() && to.is_none() {
                    on = Some(j);
                } else if (t.is_word("TO") && !revoke) || (t.is_word("FROM") && revoke) {
                    to = Some(j);
                    break;
                }
            }
            _ => {}
        }
    }
    let to = to?;
    let (grantees, _) = identifiers(tokens, to + 1);
    if let Some(on) = on {
        let (names, _) = identifiers(tokens, on + 2);
        let statement = if revoke { "REVOKE" } else { "GRANT" };
        return if word(tokens, on + 1, "DATABASE") {
            Some(Effect::Database {
                statement: if revoke {
                    "REVOKE ... ON DATABASE"
                } else {
                    "GRANT ... ON DATABASE"
                },
                names,
            })
        } else if word(tokens, on + 1, "TABLESPACE") {
            Some(Effect::Tablespace {
                statement: if revoke {
                    "REVOKE ... ON TABLESPACE"
                } else {
                    "GRANT ... ON TABLESPACE"
                },
                names,
            })
        } else if word(tokens, on + 1, "PARAMETER") {
            let _ = statement;
            Some(Effect::ParameterPrivilege)
        } else {
            None
        };
    }
    // `REVOKE [ADMIN | INHERIT | SET] OPTION FOR r FROM u`.
    let mut start = 1;
    if revoke && word(tokens, 2, "OPTION") && word(tokens, 3, "FOR") {
        start = 4;
    }
    let (granted, _) = identifiers(tokens, start);
    Some(Effect::Membership {
        statement: if revoke { "REVOKE" } else { "GRANT" },
        granted,
        grantees,
    })
}

/// The wrappers whose servers connect to a PostgreSQL database, by their handler.
const POSTGRES_FDW: (&str, &str) = ("postgres_fdw", "postgres_fdw_handler");

/// `CREATE SERVER ... FOREIGN DATA WRAPPER w` (its tokens, up to its `;`) with `w`
/// `postgres_fdw` or a name it cannot read (`%I`, built at run time), and `CREATE FOREIGN DATA
/// WRAPPER w ... HANDLER postgres_fdw_handler` (a wrapper of another name that is
/// postgres_fdw).
fn foreign_server(tokens: &[Token<'_>]) -> Option<Effect> {
    let (wrapper, handler) = POSTGRES_FDW;
    let wrapper_at = tokens
        .windows(3)
        .position(|w| w[0].is_word("FOREIGN") && w[1].is_word("DATA") && w[2].is_word("WRAPPER"))?
        + 3;
    if word(tokens, 1, "FOREIGN") {
        // `CREATE FOREIGN DATA WRAPPER w HANDLER [schema.]postgres_fdw_handler`.
        let at = tokens.iter().position(|t| t.is_word("HANDLER"))? + 1;
        let mut name = at;
        while tokens
            .get(name + 1)
            .is_some_and(|t| t.kind == TokenKind::Dot)
        {
            name += 2;
        }
        return tokens
            .get(name)
            .is_some_and(|t| syntax::names(t, handler))
            .then(|| {
                let w = tokens.get(wrapper_at).and_then(|t| syntax::resolved(t));
                Effect::ForeignServer(format!(
                    "CREATE FOREIGN DATA WRAPPER {} HANDLER {handler}",
                    w.as_deref().unwrap_or("(a name computed at run time)")
                ))
            });
    }
    if !word(tokens, 1, "SERVER") {
        return None;
    }
    match tokens.get(wrapper_at).and_then(|t| syntax::resolved(t)) {
        Some(w) if w != wrapper => None,
        w => Some(Effect::ForeignServer(format!(
            "CREATE SERVER ... FOREIGN DATA WRAPPER {}",
            w.as_deref().unwrap_or("(a name computed at run time)")
        ))),
    }
}

/// `COPY ...` (its tokens, up to its `;`): the first `FROM` or `TO` outside parentheses, then
/// `PROGRAM` or a file name (`TO` only: reading a server file changes nothing).
fn copy(tokens: &[Token<'_>]) -> Option<Effect> {
    let mut depth = 0u32;
    for (j, t) in tokens.iter().enumerate().skip(1) {
        match t.kind {
            TokenKind::OpenParen => depth += 1,
            TokenKind::CloseParen => depth = depth.saturating_sub(1),
            TokenKind::Word if depth == 0 && (t.is_word("FROM") || t.is_word("TO")) => {
                let next = tokens.get(j + 1)?;
                if next.is_word("PROGRAM") {
                    return Some(Effect::CopyProgram);
                }
                return (t.is_word("TO") && next.kind == TokenKind::String)
                    .then_some(Effect::CopyToFile);
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::test_support::up;
    use super::*;

    fn effects(sql: &str) -> Vec<(u32, Effect)> {
        server_wide(sql)
            .into_iter()
            .map(|(line, _, e)| (line, e))
            .collect()
    }

    fn role(statement: &'static str, roles: &[&str]) -> Effect {
        Effect::Role {
            statement,
            roles: roles.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// What a rollback does not undo: run on the host, written to its files, done through
    /// another connection, signalled; not the catalog rows a rollback takes back, nor a
    /// sequence's `nextval` (not server-wide at all).
    #[test]
    fn effects_a_rollback_does_not_undo_are_the_hosts_and_other_sessions() {
        let survives = |sql: &str| -> Vec<bool> {
            server_wide(sql)
                .iter()
                .map(|(_, _, e)| e.survives_rollback())
                .collect()
        };
        for sql in [
            "COPY (SELECT 1) TO PROGRAM 'cat >> /tmp/side.log';\n",
            "COPY t FROM PROGRAM 'cat /srv/t.csv';\n",
            "COPY t TO '/srv/t.csv';\n",
            "SELECT dblink_exec('dbname=x', 'INSERT INTO t VALUES (1)');\n",
            "SELECT lo_export(42, '/tmp/x');\n",
            "SELECT pg_reload_conf();\n",
            "SELECT pg_create_physical_replication_slot('s');\n",
            "DO $$ BEGIN PERFORM pg_catalog.pg_cancel_backend(0); END $$;\n",
        ] {
            assert_eq!(survives(sql), [true], "{sql:?}");
        }
        for sql in [
            "CREATE ROLE app;\n",
            "GRANT app TO web;\n",
            "GRANT CONNECT ON DATABASE d TO app;\n",
            "ALTER TABLESPACE ts OWNER TO app;\n",
            "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw;\n",
        ] {
            assert_eq!(survives(sql), [false], "{sql:?}");
        }
        assert!(server_wide("SELECT nextval('s'), setval('s', 4);\n").is_empty());
    }

    #[test]
    fn lint_warns_on_alter_system_slots_and_copy_program_anywhere() {
        for (sql, line) in [
            (
                "-- confiture:no-transaction\nALTER SYSTEM SET work_mem = '64MB';\n",
                2,
            ),
            (
                "-- confiture:no-transaction\nalter  /* x */ system reset all;\n",
                2,
            ),
            (
                "SELECT pg_create_physical_replication_slot('s', true);\n",
                1,
            ),
            ("SELECT pg_catalog.pg_drop_replication_slot('s');\n", 1),
            (
                "DO $$\nBEGIN\n  PERFORM pg_create_logical_replication_slot('s', 'x');\nEND $$;\n",
                3,
            ),
            ("COPY (SELECT 1) TO PROGRAM 'cat > /dev/null';\n", 1),
            ("COPY t FROM PROGRAM 'cat /srv/t.csv';\n", 1),
            (
                "DO $$ BEGIN EXECUTE 'SELECT pg_drop_replication_slot(''s'')'; END $$;\n",
                1,
            ),
        ] {
            assert_eq!(up(sql), [("C120", line)], "{sql:?}");
        }
    }

    /// The words C120 looks for before reading a statement's tokens do not hide an effect
    /// spelled out of pieces, by a string's escapes or a continuation, in a body `EXECUTE`
    /// runs.
    #[test]
    fn lint_warns_on_effects_spelled_by_escapes_and_continuations() {
        for sql in [
            "DO $$ BEGIN EXECUTE E'ALTER \\123YSTEM SET work_mem = 1'; END $$;\n",
            "DO $$ BEGIN EXECUTE U&'ALTER \\0053YSTEM SET work_mem = 1'; END $$;\n",
            "DO $$ BEGIN EXECUTE 'ALTER SYS'\n'TEM SET work_mem = 1'; END $$;\n",
            "DO $$ BEGIN EXECUTE 'SELECT pg_drop_replication'\r\n'_slot(''s'')'; END $$;\n",
            "DO $$ BEGIN EXECUTE 'COPY t TO PRO'\n  'GRAM ''cat'''; END $$;\n",
            "DO $$ BEGIN EXECUTE E'COPY t TO \\x50ROGRAM ''cat'''; END $$;\n",
        ] {
            assert_eq!(up(sql), [("C120", 1)], "{sql:?}");
        }
        // Each replication slot function is spelled with a word C120 looks for.
        for f in SLOT_FUNCTIONS {
            assert!(WARNED_WORDS.iter().any(|w| f.contains(w)), "{f}");
        }
    }

    #[test]
    fn lint_leaves_look_alikes_and_per_database_statements_alone() {
        for sql in [
            "-- ALTER SYSTEM SET x = 1;\nSELECT 1;\n",
            "SELECT 'ALTER SYSTEM' AS x;\n",
            "CREATE TABLE pg_drop_replication_slot (a int);\n",
            "GRANT EXECUTE ON FUNCTION pg_catalog.pg_drop_replication_slot(name) TO ro;\n",
            "COPY t FROM '/srv/t.csv';\n",
            "SELECT system FROM t;\n",
            "SELECT pg_reload_conf();\n",
        ] {
            assert_eq!(up(sql), [], "{sql:?}");
        }
        assert_eq!(
            up("-- confiture:allow(server-wide-effect)\n-- confiture:no-transaction\nALTER SYSTEM SET work_mem = '1MB';\n"),
            []
        );
    }

    #[test]
    fn roles_are_read_with_their_names_also_in_do_blocks() {
        let sql = "DO $$ BEGIN\n  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ro') THEN CREATE ROLE ro; END IF;\nEND $$;\nDROP ROLE IF EXISTS ro, \"Big\";\nALTER ROLE CURRENT_USER SET work_mem = '1MB';\nALTER USER app WITH PASSWORD 'x';\nCREATE USER MAPPING FOR app SERVER s;\n";
        assert_eq!(
            effects(sql),
            [
                (2, role("CREATE ROLE", &["ro"])),
                (4, role("DROP ROLE", &["ro", "Big"])),
                (5, role("ALTER ROLE", &["current_user"])),
                (6, role("ALTER ROLE", &["app"])),
            ]
        );
        // A name computed at run time is no name: refused on the target's server.
        assert_eq!(
            effects("DO $$ BEGIN EXECUTE format('DROP ROLE %I', r); END $$;"),
            [(1, role("DROP ROLE", &[]))]
        );
    }

    #[test]
    fn every_kind_of_quoted_body_is_read_and_a_string_value_is_not() {
        // The code of a `DO` or a function in `'...'` (`''` a quote), `E'...'` (backslash
        // escapes), `U&'...'`, a continuation, a dollar quote, and a string in any of them.
        for sql in [
            r"DO 'BEGIN EXECUTE ''DROP ROLE IF EXISTS bob''; END';",
            r"DO LANGUAGE plpgsql 'BEGIN EXECUTE ''DROP ROLE bob''; END';",
            r"DO E'BEGIN EXECUTE \'DROP ROLE bob\'; END';",
            r"do e'BEGIN EXECUTE \'DROP\tROLE\x20bob\'; END';",
            r"DO E'BEGIN EXECUTE \'\104ROP ROLE \u0062ob\'; END';",
            r"DO U&'BEGIN EXECUTE ''\0044ROP ROLE bob''; END';",
            "DO 'BEGIN EXECUTE ''DROP ''\n  -- c\n  ''ROLE bob''; END';",
            "DO 'BEGIN'\n' EXECUTE ''DROP ROLE bob''; END';",
            r"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS 'BEGIN EXECUTE ''DROP ROLE bob''; END';",
            r"CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS 'DROP ROLE bob';",
            r"DO $$ BEGIN EXECUTE 'DO ''BEGIN EXECUTE ''''DROP ROLE bob''''; END'''; END $$;",
            r"DO $$ BEGIN EXECUTE E'DROP ROLE \x62ob'; END $$;",
            r"DO 'BEGIN EXECUTE $q$DROP ROLE bob$q$; END';",
        ] {
            assert_eq!(effects(sql), [(1, role("DROP ROLE", &["bob"]))], "{sql:?}");
        }
        assert_eq!(
            effects("SELECT 1;\nDO 'BEGIN\n  EXECUTE ''ALTER ROLE alice NOLOGIN'';\nEND';\n"),
            [(2, role("ALTER ROLE", &["alice"]))]
        );
        // lint's C120 too.
        assert_eq!(
            up("DO E'BEGIN PERFORM pg_drop_replication_slot(\\'s\\'); END';\n"),
            [("C120", 1)]
        );
        // A string that is a value, the name of a `DO`'s language, a function's default.
        for sql in [
            r"INSERT INTO notes VALUES ('DROP ROLE bob');",
            r"SELECT E'ALTER SYSTEM SET a = \'1\'';",
            r"DO LANGUAGE 'DROP ROLE bob' $$ BEGIN END $$;",
            r"CREATE FUNCTION f(a text DEFAULT 'DROP ROLE bob') RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
        ] {
            assert_eq!(effects(sql), [], "{sql:?}");
        }
    }

    #[test]
    fn memberships_and_shared_objects_are_told_from_object_privileges() {
        let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            effects("GRANT ro, rw TO alice WITH ADMIN OPTION;\nREVOKE ADMIN OPTION FOR ro FROM bob;\nGRANT SELECT ON t TO ro;\nGRANT CONNECT ON DATABASE app TO ro;\nREVOKE CREATE ON TABLESPACE fast FROM ro;\nGRANT SET ON PARAMETER work_mem TO ro;\nALTER GROUP g ADD USER a, b;\n"),
            [
                (1, Effect::Membership { statement: "GRANT", granted: strs(&["ro", "rw"]), grantees: strs(&["alice"]) }),
                (2, Effect::Membership { statement: "REVOKE", granted: strs(&["ro"]), grantees: strs(&["bob"]) }),
                (4, Effect::Database { statement: "GRANT ... ON DATABASE", names: strs(&["app"]) }),
                (5, Effect::Tablespace { statement: "REVOKE ... ON TABLESPACE", names: strs(&["fast"]) }),
                (6, Effect::ParameterPrivilege),
                (7, Effect::Membership { statement: "ALTER GROUP", granted: strs(&["g"]), grantees: strs(&["a", "b"]) }),
            ]
        );
        assert_eq!(
            effects("CREATE DATABASE x;\nALTER DATABASE app SET search_path = a;\nCOPY t TO '/tmp/t.csv';\nSELECT pg_terminate_backend(pid) FROM pg_stat_activity;\n"),
            [
                (1, Effect::CreateDatabase),
                (2, Effect::Database { statement: "ALTER DATABASE", names: strs(&["app"]) }),
                (3, Effect::CopyToFile),
                (4, Effect::ServerFunction("pg_terminate_backend")),
            ]
        );
        // A tablespace and a database are each read the same way: one name, after IF EXISTS.
        assert_eq!(
            effects("CREATE TABLESPACE fast LOCATION '/ssd';\nALTER TABLESPACE fast OWNER TO ro;\nDROP TABLESPACE IF EXISTS \"Old\";\nDROP DATABASE IF EXISTS scratch, other;\n"),
            [
                (1, Effect::Tablespace { statement: "CREATE TABLESPACE", names: strs(&["fast"]) }),
                (2, Effect::Tablespace { statement: "ALTER TABLESPACE", names: strs(&["fast"]) }),
                (3, Effect::Tablespace { statement: "DROP TABLESPACE", names: strs(&["Old"]) }),
                (4, Effect::Database { statement: "DROP DATABASE", names: strs(&["scratch"]) }),
            ]
        );
        // Replication origins are the server's, like slots.
        assert_eq!(
            effects("SELECT pg_replication_origin_create('o');\nSELECT pg_catalog.pg_replication_origin_advance('o', '0/1');\nDO 'BEGIN PERFORM pg_replication_origin_drop(''o''); END';\nSELECT pg_replication_origin_oid('o');\n"),
            [
                (1, Effect::ServerFunction("pg_replication_origin_create")),
                (2, Effect::ServerFunction("pg_replication_origin_advance")),
                (3, Effect::ServerFunction("pg_replication_origin_drop")),
            ]
        );
        // A postgres_fdw server (or a wrapper that is postgres_fdw under another name, or one
        // whose name is built at run time) writes another database; other wrappers, the
        // extension itself and what uses a server do not connect by themselves.
        let foreign = |s: &str| Effect::ForeignServer(s.to_string());
        assert_eq!(
            effects("CREATE EXTENSION postgres_fdw;\nCREATE SERVER IF NOT EXISTS other FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'live');\nCREATE USER MAPPING FOR CURRENT_USER SERVER other;\nCREATE SERVER s2 TYPE 'x' VERSION '1' FOREIGN DATA WRAPPER \"postgres_fdw\";\nCREATE FOREIGN DATA WRAPPER pg HANDLER public.postgres_fdw_handler VALIDATOR postgres_fdw_validator;\nDO 'BEGIN EXECUTE format(''CREATE SERVER s3 FOREIGN DATA WRAPPER %I'', w); END';\nCREATE SERVER f FOREIGN DATA WRAPPER file_fdw;\nCREATE FOREIGN DATA WRAPPER dummy;\nCREATE FOREIGN TABLE ft (a int) SERVER other;\nINSERT INTO ft VALUES (1);\n"),
            [
                (2, foreign("CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw")),
                (4, foreign("CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw")),
                (5, foreign("CREATE FOREIGN DATA WRAPPER pg HANDLER postgres_fdw_handler")),
                (6, foreign("CREATE SERVER ... FOREIGN DATA WRAPPER (a name computed at run time)")),
            ]
        );
        // `ALTER GROUP ... DROP USER` is a membership revoked, not a role dropped.
        assert_eq!(
            effects("ALTER GROUP alice DROP USER postgres;\nalter group \"Big\" drop user a, \"B\";\nDO 'BEGIN EXECUTE ''ALTER GROUP g DROP USER u''; END';\n"),
            [
                (1, Effect::Membership { statement: "ALTER GROUP", granted: strs(&["alice"]), grantees: strs(&["postgres"]) }),
                (2, Effect::Membership { statement: "ALTER GROUP", granted: strs(&["Big"]), grantees: strs(&["a", "B"]) }),
                (3, Effect::Membership { statement: "ALTER GROUP", granted: strs(&["g"]), grantees: strs(&["u"]) }),
            ]
        );
        assert_eq!(effects("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO ro;\nCREATE POLICY p ON t TO ro;\nSELECT t.grant FROM t;\n"), []);
    }
}
