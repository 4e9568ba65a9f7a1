//! Whether something sits between us and the server, and refusing a transaction-pooling
//! pooler. Two ways to tell, the cheap one first:
//!
//! - [`is_direct`], pure: the server's end of our TCP connection (`inet_server_addr()`,
//!   `inet_server_port()`, read in the round trip `writable::check` makes anyway) is exactly
//!   the address and port we dialled. Nothing relays the connection then, so no pooler either.
//! - Otherwise (a pooler, NAT, a published container port, a Kubernetes service, a Unix
//!   socket, a session handed over by the caller), [`refuse_transaction_pooling`]: a second
//!   connection and a comparison of server sessions.

use crate::hint::AGAIN;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use super::Reached;
use crate::config::Environment;
use crate::error::{Error, Result};

/// Whether the connection dialled at `dialled` reaches the server with nothing in between:
/// `server_addr` and `server_port` are what the server answered for `inet_server_addr()` and
/// `inet_server_port()` (text; empty or absent over a Unix socket). True only when both are
/// exactly the address and port dialled (an IPv4 address and its IPv4-mapped IPv6 form are
/// the same address).
///
/// A pooler or proxy opens its own connection to the server, whose server end is the address
/// the *pooler* dialled: another port on the same machine, another address in another
/// container or behind NAT. Only a relay that dials the very address and port we dialled
/// would pass, which means one that intercepts traffic to the server's own address
/// (transparent proxying): that is documented as what this check does not see. Anything
/// unknown (no address dialled, no answer, an answer that does not parse) is not direct.
pub(crate) fn is_direct(
    dialled: Option<SocketAddr>,
    server_addr: Option<&str>,
    server_port: Option<&str>,
) -> bool {
    let (Some(dialled), Some(addr), Some(port)) = (dialled, server_addr, server_port) else {
        return false;
    };
    let (Ok(addr), Ok(port)) = (addr.parse::<IpAddr>(), port.parse::<u16>()) else {
        return false;
    };
    addr.to_canonical() == dialled.ip().to_canonical() && port == dialled.port()
}

/// The columns naming a session's server session ([`SESSION_IDENTITY`]) and the server's end
/// of its connection (`inet_server_addr()`, `inet_server_port()`, NULL over a Unix socket), in
/// that order: what [`direct_identity`] decides by. The one text of them: `writable::check`
/// reads them in its round trip, [`read_direct_identity`] alone.
pub(crate) fn identity_columns() -> String {
    format!(
        "{SESSION_IDENTITY}, pg_catalog.host(pg_catalog.inet_server_addr()), \
         pg_catalog.inet_server_port()::pg_catalog.text"
    )
}

/// The server session a stop may cancel from a session of its own (`pg_cancel_backend`,
/// `connect::cancel_session`): `identity` ([`SESSION_IDENTITY`], what [`identity_columns`]
/// read first) when the connection dialled at `dialled` reaches the server with nothing in
/// between ([`is_direct`], decided by the two columns after it). Through anything else — a
/// pooler, NAT, a Unix socket — the server session behind the connection may change between
/// two transactions (transaction pooling) and the one named be another client's by the time
/// of the stop: `None`, until the pooler check has passed (the migration lock then names the
/// session, `lock::MigrationLock::backend`).
pub(crate) fn direct_identity(
    dialled: Option<SocketAddr>,
    identity: Option<&str>,
    server_addr: Option<&str>,
    server_port: Option<&str>,
) -> Option<String> {
    identity
        .filter(|_| is_direct(dialled, server_addr, server_port))
        .map(str::to_string)
}

/// [`direct_identity`] of `client`'s session, dialled at `dialled`, in one round trip of its
/// own (a run that can be stopped and has no other round trip to share before its first
/// statement: a dry run's ledger read). `None` as well when the server does not answer: the
/// caller's next statement says why.
pub(crate) fn read_direct_identity(
    client: &mut postgres::Client,
    dialled: Option<SocketAddr>,
) -> Option<String> {
    dialled?;
    let messages = client
        .simple_query(&crate::db::own_statements(&format!(
            "SELECT {}",
            identity_columns()
        )))
        .ok()?;
    let row = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    })?;
    direct_identity(dialled, row.get(0), row.get(1), row.get(2))
}

/// Refuses a session that goes through a pooler in transaction (or statement) pooling mode
/// (a connection [`is_direct`] says reached the server itself is not asked this),
/// such as PgBouncer with `pool_mode = transaction`: between two transactions such a pooler
/// may hand our statements to another server session, so the session-level migration lock
/// and session settings would silently belong to somebody else. Called by the writing
/// commands before they take the lock; `session` is what [`SESSION_IDENTITY`] answered on
/// `client`, and `reached` the host it reached (the second connection goes to the same one;
/// `None`, a connection handed over: to the host a writing command would reach).
///
/// A pooler answers `SHOW pool_mode` only on its admin console, so the check is behavioural,
/// and looks for what a transaction pooler does and a session pooler never does, whatever
/// other clients of the pool do: between two transactions of one client connection, its
/// server session serves somebody else, or the connection moves to another server session.
/// [`ROUNDS`] times, a second connection of ours (the probe) runs a transaction, then
/// `client` does; each transaction reads its server session ([`SESSION_IDENTITY`]) and its
/// virtual transaction id, whose local part a server session counts up by exactly one per
/// transaction. Through session pooling or directly, each connection keeps its server session
/// and nothing else runs there: every next transaction of a connection is the very next one
/// of the same server session, and the two connections never share one. Through transaction
/// pooling, the server session `client` released goes to the probe (PgBouncer reuses the most
/// recently released one first) or to another client — whose transaction there shows as a
/// gap in the count — or `client` gets another one: any of these is conclusive ([`Shared`]).
///
/// The probe connection refused (a pooler's `max_client_conn`, the server's connection
/// limit) is an answer too: whether transaction pooling sits in between cannot be told, and
/// the command stops (exit 5) rather than write through it unchecked. A probe that gets no
/// answer within [`PROBE_WAIT`] (a session pool with no free server session keeps it
/// waiting) concludes nothing from the second connection; `client`'s own transactions are
/// still compared, and a warning says so (`warnings`). A refusal ends with what the command
/// did not do (`effect`).
pub(crate) fn refuse_transaction_pooling(
    client: &mut postgres::Client,
    env: &Environment,
    reached: Option<&Reached>,
    session: &str,
    effect: crate::plan::Effect,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let wait = match env.migration.connect_timeout {
        timeout if timeout.is_zero() => PROBE_WAIT,
        timeout => timeout.min(PROBE_WAIT),
    };
    let mut seen_here = Observed {
        session: session.to_string(),
        first: seen(client)?,
        rounds: Vec::new(),
    };
    let mut probe = Some(Probe::start(env, reached));
    for _ in 0..ROUNDS {
        let mut theirs = None;
        if let Some(p) = &mut probe {
            match p.ask(wait) {
                Asked::Seen(s) => theirs = Some(s),
                Asked::Refused(error) => return Err(probe_refused(env, &error, effect)),
                Asked::NoAnswer => {
                    probe = None;
                    warnings.push(format!(
                        "could not tell whether {} goes through a pooler in transaction \
                         pooling mode: a second connection got no answer within {} (a full \
                         session pool, a busy pooler); this connection's own transactions \
                         kept their server session",
                        env.connection,
                        crate::db::backoff::human(wait)
                    ));
                }
            }
        }
        seen_here.rounds.push((theirs, seen(client)?));
    }
    let Some(shared) = seen_here.shared() else {
        return Ok(());
    };
    let spec = &env.connection;
    Err(Error::invalid(format!(
        "{spec} goes through a pooler in transaction or statement pooling mode ({shared}); {}",
        effect.nothing_done()
    ))
    .with_detail(
        "such a pooler hands each transaction to any server session: the migration lock and \
         session settings would not stay with this connection",
    )
    .with_help(format!(
        "{}, in {}",
        crate::db::lock::NOT_TRANSACTION_POOLING,
        env.source()
    ))
    .with_reason(crate::error::Reason::TransactionPooling))
}

/// A setting a session's startup options gave it ([`super::sent_settings`]): its name (lower
/// case), its value, and whether the option is ours (else the connection's own `options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentSetting {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) ours: bool,
}

/// The columns of a session's first message (a writing session's `writable::check`, `status`'s
/// ledger read) that tell whether the startup options it was opened with (`options`) reached
/// the server as sent, in that order: for each setting `sent`, [`Read`]'s columns, as one JSON
/// array of arrays; and what `RESET ALL` gives `search_path` (`pg_settings.reset_val`: a
/// tenant's pin, [`crate::fleet::pins_tenant`]). [`unmatched_options`] and
/// [`refuse_dropped_options`] decide by them.
pub(crate) fn options_columns(sent: &[SentSetting]) -> String {
    let read: Vec<String> = sent
        .iter()
        .map(|setting| {
            format!(
                "pg_catalog.array_cat(ARRAY[pg_catalog.current_setting({name}, true)], \
                 COALESCE((SELECT ARRAY[s.source, s.vartype, s.unit, s.reset_val, s.boot_val] \
                 FROM pg_catalog.pg_settings s WHERE s.name OPERATOR(pg_catalog.=) {name}), \
                 CAST(ARRAY[NULL, NULL, NULL, NULL, NULL] AS pg_catalog.text[])))",
                name = crate::ledger::literal(&setting.name)
            )
        })
        .collect();
    let arrivals = match read.is_empty() {
        true => "NULL".to_string(),
        false => format!(
            "CAST(pg_catalog.array_to_json(ARRAY[{}]) AS pg_catalog.text)",
            read.join(", ")
        ),
    };
    format!(
        "{arrivals}, (SELECT s.reset_val FROM pg_catalog.pg_settings s \
         WHERE s.name OPERATOR(pg_catalog.=) 'search_path')"
    )
}

/// What the session says of a setting its startup options set ([`options_columns`]): its value
/// (for a setting `pg_settings` does not show, `role`, a custom `app.tenant`, the only
/// column), and from `pg_settings`: where the value comes from (`client` when the startup
/// packet set it), its type and unit (what [`same_value`] reads values by), what `RESET`
/// gives it and what the server started with.
#[derive(Debug, Default, serde::Deserialize)]
struct Read(
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A setting sent in the startup options that the session does not have as sent
/// ([`unmatched_options`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unmatched {
    pub(crate) sent: SentSetting,
    /// The session's value when the startup packet set it, but to another value than the one
    /// sent (a proxy rewrote it), or a `SET` over it gave it another (a pooler's
    /// `connect_query`); `None` when the setting did not come from the startup packet at all.
    pub(crate) changed_to: Option<String>,
}

/// The settings of `sent` the session did not get from its startup options as sent, by `read`
/// (the first of [`options_columns`]): a setting `pg_settings` shows arrived when the startup
/// packet set it (`source` `client`: what `RESET ALL` keeps) to the value sent, read by its
/// type ([`same_value`]: `5s` is `5000` of milliseconds); another when its value is the one
/// sent. A setting the message's own reads set first ([`crate::db::SET_BY_OWN_READS`]) is
/// read by what `RESET` gives it (none but the startup packet gives what the server started
/// with otherwise). A pooler or proxy may drop the whole `options` parameter (PgBouncer
/// listing it in `ignore_startup_parameters`) or rewrite it, dropping ours or the
/// connection's own, or changing a value; or set a setting over it (`connect_query`).
pub(crate) fn unmatched_options(sent: &[SentSetting], read: Option<&str>) -> Vec<Unmatched> {
    let reads: Vec<Read> = read
        .and_then(|read| serde_json::from_str(read).ok())
        .unwrap_or_default();
    sent.iter()
        .enumerate()
        .filter_map(|(i, setting)| {
            let unread = Read::default();
            let Read(has, source, vartype, unit, reset, boot) = reads.get(i).unwrap_or(&unread);
            let same = |value: &Option<String>| {
                value.as_deref().is_some_and(|value| {
                    let (vartype, unit) = (vartype.as_deref(), unit.as_deref());
                    same_value(&setting.name, &setting.value, value, vartype, unit)
                })
            };
            let changed_to = match source.as_deref() {
                None if has.as_deref() == Some(setting.value.as_str()) => return None,
                None => None,
                Some("client") if same(has) => return None,
                Some("client") => has.clone(),
                // The message's own `SET LOCAL` hides the session's value: `RESET` gives the
                // startup packet's, when it arrived.
                Some("session") if crate::db::SET_BY_OWN_READS.contains(&setting.name.as_str()) => {
                    match same(reset) {
                        true => return None,
                        // In the unit `pg_settings` gives it in, as `SHOW` would not.
                        false => (reset.as_ref())
                            .filter(|reset| Some(*reset) != boot.as_ref())
                            .map(|reset| match (unit, reset.parse::<f64>()) {
                                (Some(unit), Ok(_)) => format!("{reset}{unit}"),
                                _ => reset.clone(),
                            }),
                    }
                }
                // Set over the startup packet's value, which arrived.
                Some("session") if same(reset) && !same(has) => has.clone(),
                Some(_) => None,
            };
            Some(Unmatched {
                sent: setting.clone(),
                changed_to,
            })
        })
        .collect()
}

/// Whether `sent`, a value of a startup option, is the value `has` the server shows for it,
/// read as the server reads a setting of type `vartype` in `unit` (`pg_settings`): a number
/// in any unit of its kind (`5s`, `5000` of `ms`), a boolean in any of its spellings
/// (`true`, `on`, `1`), an enum's label in any case, a string's words in any case
/// (`TimeZone=utc` is `UTC`), but `search_path`'s as written (a quoted schema's case is its
/// name's) and `DateStyle`'s each among the server's (`iso` is `ISO, MDY`: the server fills
/// in the half not sent). What cannot be read is compared as written.
fn same_value(
    name: &str,
    sent: &str,
    has: &str,
    vartype: Option<&str>,
    unit: Option<&str>,
) -> bool {
    if sent == has {
        return true;
    }
    match vartype {
        Some("bool") | Some("enum") => {
            if let (Some(a), Some(b)) = (boolean(sent), boolean(has)) {
                return a == b;
            }
            sent.trim().eq_ignore_ascii_case(has.trim())
        }
        Some(kind @ ("integer" | "real")) => {
            let unit = unit.unwrap_or("");
            match (quantity(sent, unit), quantity(has, unit)) {
                (Some(a), Some(b)) if kind == "integer" => a.round() == b.round(),
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
                _ => sent.trim() == has.trim(),
            }
        }
        Some("string") => {
            let words = |value: &str| -> Vec<String> {
                value
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let (sent, has) = (words(sent), words(has));
            let alike = |a: &String, b: &String| a.eq_ignore_ascii_case(b);
            match name {
                "search_path" => sent == has,
                "datestyle" => sent.iter().all(|w| has.iter().any(|h| alike(w, h))),
                _ => sent.len() == has.len() && sent.iter().zip(&has).all(|(a, b)| alike(a, b)),
            }
        }
        _ => false,
    }
}

/// A boolean setting's value as the server reads it (`parse_bool`: `on`, `off`, `true`,
/// `false`, `yes`, `no`, `1`, `0`, and a prefix of the words that names one alone).
fn boolean(value: &str) -> Option<bool> {
    let value = value.trim().to_ascii_lowercase();
    match value.as_str() {
        "1" => return Some(true),
        "0" => return Some(false),
        "" | "o" => return None,
        _ => {}
    }
    let words = [
        ("true", true),
        ("false", false),
        ("yes", true),
        ("no", false),
        ("on", true),
        ("off", false),
    ];
    words
        .iter()
        .find(|(word, _)| match *word {
            "on" | "off" => *word == value || (value.len() > 1 && word.starts_with(&value)),
            _ => word.starts_with(&value),
        })
        .map(|(_, b)| *b)
}

/// A number setting's value in its `unit` (`pg_settings.unit`: `ms`, `s`, `8kB`, none), as
/// the server reads `5s`, `128MB` or `5000`: a number alone is in `unit`.
fn quantity(value: &str, unit: &str) -> Option<f64> {
    let value = value.trim();
    let split = value
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || ((*c == '-' || *c == '+') && *i == 0)))
        .map_or(value.len(), |(i, _)| i);
    let number: f64 = value[..split].parse().ok()?;
    let suffix = value[split..].trim();
    if suffix.is_empty() {
        return Some(number);
    }
    let scale = |unit: &str| -> Option<(bool, f64)> {
        let digits = unit
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(unit.len());
        let times: f64 = match digits {
            0 => 1.0,
            _ => unit[..digits].parse().ok()?,
        };
        let (memory, size) = match &unit[digits..] {
            "B" => (true, 1.0),
            "kB" => (true, 1024.0),
            "MB" => (true, 1024.0 * 1024.0),
            "GB" => (true, 1024.0 * 1024.0 * 1024.0),
            "TB" => (true, 1024.0 * 1024.0 * 1024.0 * 1024.0),
            "us" => (false, 1.0),
            "ms" => (false, 1e3),
            "s" => (false, 1e6),
            "min" => (false, 6e7),
            "h" => (false, 3.6e9),
            "d" => (false, 8.64e10),
            _ => return None,
        };
        Some((memory, times * size))
    };
    let ((memory, of_value), (base_memory, of_unit)) = (scale(suffix)?, scale(unit)?);
    (memory == base_memory).then_some(number * of_value / of_unit)
}

/// Refuses, before anything is read or written as the session's (exit 5), a session of `env`
/// (shown as `connection`) that lacks a setting its connection's own `options` set, or has it
/// with another value ([`unmatched_options`], `unmatched`) — or, for a tenant schema, whose
/// `search_path` does not go back to the tenant's alone (`search_path`, the second of
/// [`options_columns`]): a pooler or proxy between us and the server dropped or changed the
/// startup options, and the tenant's migrations would build where the server's `search_path`
/// puts them (`public`) while its ledger recorded them, and its `down` drop `public`'s
/// tables; its `status` would read another schema's ledger. `effect`: what the writing
/// command does, `None` for `status`. Only the tool's own settings missing or changed is no
/// refusal: the session's checks read them as they are, as with a connection without options
/// of its own.
pub(crate) fn refuse_dropped_options(
    env: &Environment,
    connection: &str,
    unmatched: &[Unmatched],
    search_path: Option<&str>,
    effect: Option<crate::plan::Effect>,
) -> Result<()> {
    let tenant = env.migration.tenant_schema.as_deref();
    let unpinned = tenant
        .zip(search_path)
        .filter(|(schema, path)| !crate::fleet::pins_tenant(path, schema));
    let (consequence, tail) = match effect {
        Some(effect) => ("the migrations would run", effect.nothing_done()),
        None => ("the status would be read", "no status was read"),
    };
    let listed = |settings: &[&Unmatched]| {
        crate::display::cut(
            (settings.iter())
                .map(|u| {
                    let sent = format!("{}={}", u.sent.name, crate::display::escape(&u.sent.value));
                    match &u.changed_to {
                        Some(has) => format!(
                            "{sent} sent, the session has {}",
                            crate::display::escape(has)
                        ),
                        None => sent,
                    }
                })
                .collect(),
        )
        .join(", ")
    };
    let of = |ours: bool, changed: bool| -> Vec<&Unmatched> {
        (unmatched.iter())
            .filter(|u| u.sent.ours == ours && u.changed_to.is_some() == changed)
            .collect()
    };
    let (own_missing, own_changed) = (of(false, false), of(false, true));
    let ours: Vec<&Unmatched> = unmatched.iter().filter(|u| u.sent.ours).collect();
    let and_ours = match ours.is_empty() {
        true => String::new(),
        false => format!(" (and the tool's own {})", listed(&ours)),
    };
    let what = match unpinned {
        Some((schema, path)) => format!(
            "{connection}: the session's search_path is `{}`, not tenant schema {schema} alone \
             as the connection's startup options set it (`options=-c search_path={}`): a \
             pooler between the tool and the server likely dropped the connection's startup \
             options (or changed them), and {}",
            crate::display::escape(path),
            crate::fleet::tenant_search_path(schema),
            match effect {
                Some(_) => format!(
                    "the tenant's migrations would build where that search_path puts them \
                     while the tenant's ledger {} recorded them",
                    env.migration.tracking_table
                ),
                None => "the tenant's status would be read under that search_path, not the \
                         tenant's"
                    .to_string(),
            }
        ),
        None if !own_changed.is_empty() => format!(
            "{connection}: the session has other values than the connection's startup \
             options (`options`) give: {}{}{and_ours}: a pooler or proxy between the tool and \
             the server changed them (rewrote the startup options, or set the settings over \
             them: a pooler's connect_query, a role's settings applied by its reset), and \
             {consequence} under the session's values",
            listed(&own_changed),
            match own_missing.is_empty() {
                true => String::new(),
                false => format!("; it lacks {}", listed(&own_missing)),
            }
        ),
        None if !own_missing.is_empty() => format!(
            "{connection}: the session lacks settings the connection's startup options \
             (`options`) give: {}{and_ours}: a pooler between the tool and the server likely \
             dropped the connection's startup options, and {consequence} without those \
             settings",
            listed(&own_missing),
        ),
        None => return Ok(()),
    };
    Err(Error::invalid(format!("{what}; {tail}")).with_help(format!(
        "connect to the server directly for migrations (its own host and port, not the \
         pooler's, in {}); or have the pooler pass the startup options (`options`) on whole \
         and unchanged, with no setting of its own over them (PgBouncer: take `options` out \
         of its ignore_startup_parameters, where they are dropped without a word: it then \
         passes them on or refuses them; no `SET` of those settings in its connect_query)",
        env.server_source()
    )))
}

/// How many times the probe and then our connection run a transaction: under load, other
/// clients of a transaction pool may take our released server session and give it back
/// between two of ours, and each round is another chance to see it.
const ROUNDS: usize = 4;

/// The check's verdict when the probe connection was refused: nothing can be told, and a
/// writing command does not go on unchecked (exit 5).
fn probe_refused(env: &Environment, error: &Error, effect: crate::plan::Effect) -> Error {
    let mut refused = Error::invalid(format!(
        "cannot tell whether {} goes through a pooler in transaction pooling mode: the \
         second connection the check needs was refused; {}",
        env.connection,
        effect.nothing_done()
    ))
    .with_detail(format!(
        "the second connection: {}",
        error.message_with_cause()
    ))
    .with_detail(
        "the server's end of this connection is not the address dialled, so something may \
         sit in between (a pooler, NAT, a proxy): through transaction pooling the migration \
         lock and session settings would not stay with this connection",
    )
    .with_help(format!(
        "let the pooler or server accept one more connection (PgBouncer: max_client_conn; \
         PostgreSQL: max_connections, the role's CONNECTION LIMIT) and run {AGAIN}, \
         or connect to PostgreSQL directly in {}",
        env.source()
    ));
    // The driver's error, when there is one, is the source: its SQLSTATE is the error's.
    if error.driver_error().is_some() {
        refused.share_source_of(error);
    } else {
        refused.set_source(error.clone());
    }
    refused
}

/// What one transaction of one of our connections saw of its server session.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    /// [`SESSION_IDENTITY`].
    session: String,
    /// The transaction's virtual transaction id, `backend/local` (`pg_locks.virtualxid`):
    /// the local part counts the server session's transactions.
    vxid: String,
}

impl Seen {
    /// The server session's process id, for messages.
    fn pid(&self) -> &str {
        pid(&self.session)
    }

    /// Whether `next`, the next transaction of the same connection, is the very next
    /// transaction of the same server session: nothing else ran there in between.
    fn followed_by(&self, next: &Seen) -> bool {
        let parts = |vxid: &str| -> Option<(String, u64)> {
            let (backend, local) = vxid.split_once('/')?;
            Some((backend.to_string(), local.parse().ok()?))
        };
        self.session == next.session
            && matches!(
                (parts(&self.vxid), parts(&next.vxid)),
                (Some((a, n)), Some((b, m))) if a == b && n.checked_add(1) == Some(m)
            )
    }
}

fn pid(session: &str) -> &str {
    session.split(' ').next().unwrap_or_default()
}

/// What shows that server sessions are shared between client connections.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shared {
    /// One connection's next transaction ran on another server session.
    Moved { from: String, to: String },
    /// Another transaction ran on a connection's server session between two of its own.
    Served { pid: String },
    /// Both of our connections were served by one server session.
    Both { pid: String },
}

/// What the check saw: our connection's session in its state read (`session`), then its
/// first transaction, then rounds of a transaction of the probe (`None` once it got no answer)
/// followed by one of ours.
struct Observed {
    session: String,
    first: Seen,
    rounds: Vec<(Option<Seen>, Seen)>,
}

/// How many rounds must show another transaction on one of our server sessions before that
/// alone is conclusive: a server session that sits idle also runs a transaction of its own
/// now and then (catching up with a full shared invalidation queue, when other sessions
/// change catalogs a lot), a rare event in the milliseconds between two of ours that another
/// client of a transaction pool makes common.
const GAPS_CONCLUSIVE: usize = 2;

impl Observed {
    /// The first sign of shared server sessions: a connection moved to another server session,
    /// both connections served by one, or other transactions on ours in
    /// [`GAPS_CONCLUSIVE`] rounds; `None` when each connection kept its own.
    fn shared(&self) -> Option<Shared> {
        let moved = |a: &str, b: &str| Shared::Moved {
            from: pid(a).to_string(),
            to: pid(b).to_string(),
        };
        if self.first.session != self.session {
            return Some(moved(&self.session, &self.first.session));
        }
        let ours: Vec<&Seen> = std::iter::once(&self.first)
            .chain(self.rounds.iter().map(|(_, o)| o))
            .collect();
        let theirs: Vec<&Seen> = self.rounds.iter().filter_map(|(t, _)| t.as_ref()).collect();
        for seen in [&ours, &theirs] {
            if let Some(pair) = seen.windows(2).find(|p| p[0].session != p[1].session) {
                return Some(moved(&pair[0].session, &pair[1].session));
            }
        }
        if let Some(t) = theirs
            .iter()
            .find(|t| ours.iter().any(|o| o.session == t.session))
        {
            return Some(Shared::Both {
                pid: t.pid().to_string(),
            });
        }
        // A round's gaps: ours since our previous transaction, the probe's since its previous
        // one; a round whose probe got no answer waited long, and its gap is not counted.
        let mut gaps = Vec::new();
        let mut previous: (Option<&Seen>, &Seen) = (None, &self.first);
        for (t, o) in &self.rounds {
            let Some(t) = t else {
                previous = (None, o);
                continue;
            };
            let ours_gap = !previous.1.followed_by(o);
            let theirs_gap = previous.0.is_some_and(|p| !p.followed_by(t));
            if ours_gap {
                gaps.push(previous.1.pid());
            } else if theirs_gap {
                gaps.push(t.pid());
            }
            previous = (Some(t), o);
        }
        (gaps.len() >= GAPS_CONCLUSIVE).then(|| Shared::Served {
            pid: gaps[0].to_string(),
        })
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shared::Moved { from, to } => {
                write!(f, "server session {from} served this connection, then {to}")
            }
            Shared::Served { pid } => write!(
                f,
                "server session {pid} ran another client's transaction between two of this \
                 connection's"
            ),
            Shared::Both { pid } => {
                write!(
                    f,
                    "server session {pid} served this connection and another one"
                )
            }
        }
    }
}

/// The longest the pooler check waits for an answer of its second connection: a session
/// pool with no free server session keeps the second client waiting (PgBouncer: up to
/// `query_wait_timeout`).
const PROBE_WAIT: Duration = Duration::from_secs(5);

/// The check's second connection, on a thread of its own: a probe that gets no answer in
/// time is left behind (its connection closes when it gets one, or the process ends). One
/// that answered is closed before the check returns ([`Drop`]), so that it is not closing
/// while the command, or a fleet's next target, connects: the server would count it then
/// (`lingering`), and a session of ours that ends ends the retries of a refused connection.
struct Probe {
    /// Dropped to end the thread.
    ask: Option<mpsc::Sender<()>>,
    answers: mpsc::Receiver<Result<Seen>>,
    /// The thread, while it is not known to be stuck: joined on drop.
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Asked {
    Seen(Seen),
    /// Connecting, or the transaction, failed.
    Refused(Error),
    NoAnswer,
}

impl Probe {
    fn start(env: &Environment, reached: Option<&Reached>) -> Probe {
        let (env, reached) = (env.clone(), reached.cloned());
        let (ask, asked) = mpsc::channel::<()>();
        let (tx, answers) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("confiture-pooler-check".to_string())
            .spawn(move || {
                // The host `client` reached: another would be another server.
                let opened = match &reached {
                    Some(reached) => super::open_session_on(&env, reached),
                    None => super::open_session(&env, super::Need::WriteBounded),
                };
                let mut other = match opened {
                    Ok(other) => other,
                    Err(error) => {
                        let _ = tx.send(Err(error));
                        return;
                    }
                };
                while asked.recv().is_ok() {
                    let answer = seen(&mut other.client);
                    let failed = answer.is_err();
                    if tx.send(answer).is_err() || failed {
                        return;
                    }
                }
            });
        match spawned {
            Ok(thread) => Probe {
                ask: Some(ask),
                answers,
                thread: Some(thread),
            },
            Err(e) => {
                // No thread, no probe: said as a refusal, as the connection's own would be.
                let (tx, answers) = mpsc::channel();
                let _ = tx.send(Err(Error::invalid(
                    "cannot start the pooler check's thread",
                )
                .with_source(e)));
                Probe {
                    ask: Some(ask),
                    answers,
                    thread: None,
                }
            }
        }
    }

    /// One transaction of the probe, waiting at most `wait` for its answer.
    fn ask(&mut self, wait: Duration) -> Asked {
        if let Some(ask) = &self.ask {
            let _ = ask.send(());
        }
        match self.answers.recv_timeout(wait) {
            Ok(Ok(seen)) => Asked::Seen(seen),
            Ok(Err(error)) => Asked::Refused(error),
            Err(_) => {
                // Still waiting for the server: left behind.
                self.thread = None;
                Asked::NoAnswer
            }
        }
    }
}

impl Drop for Probe {
    /// Ends the thread, which closes the second connection, and waits for it: it is idle,
    /// waiting to be asked, unless it got no answer in time (then it was let go).
    fn drop(&mut self) {
        self.ask = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// [`SERVER_START`]'s text, a macro so that [`SESSION_IDENTITY`] is one constant.
macro_rules! server_start {
    () => {
        "((pg_catalog.date_part('epoch', pg_catalog.pg_postmaster_start_time()) \
         OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8)::pg_catalog.text"
    };
}

/// Which server session runs a statement: its process id and the server's start time (a
/// process id alone may repeat on another server of a multi-host list), in microseconds as an
/// integer: a `float8`'s text depends on `extra_float_digits`, which a database or role may
/// set below 0, rounding two servers' start times to the same text.
pub(crate) const SESSION_IDENTITY: &str = concat!(
    "pg_catalog.pg_backend_pid()::pg_catalog.text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) ",
    server_start!()
);

/// The server's start time in [`SESSION_IDENTITY`] (its second half): what tells, on a new
/// session, whether it reached the server of a session known by its identity.
pub(crate) const SERVER_START: &str = server_start!();

/// One transaction reading its server session ([`SESSION_IDENTITY`]) and its own virtual
/// transaction id (every transaction holds the lock of its own).
fn seen(client: &mut postgres::Client) -> Result<Seen> {
    let messages = client
        .simple_query(&crate::db::own_statements(&format!(
            "SELECT {SESSION_IDENTITY}, (SELECT l.virtualxid FROM pg_catalog.pg_locks l \
             WHERE l.locktype OPERATOR(pg_catalog.=) 'virtualxid' \
             AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() LIMIT 1)"
        )))
        .map_err(|e| crate::db::query_error("cannot read the server session's process id", e))?;
    let column = |i: usize| {
        messages
            .iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => row.get(i).map(str::to_string),
                _ => None,
            })
            .unwrap_or_default()
    };
    Ok(Seen {
        session: column(0),
        vxid: column(1),
    })
}

#[cfg(test)]
mod tests {
    use super::{
        direct_identity, is_direct, same_value, unmatched_options, Observed, Seen, SentSetting,
        Shared,
    };

    /// A setting the server shows arrived when the startup packet set it (`client`) to the
    /// value sent; one it does not show (`role`, a custom `app.x`) when its value is the one
    /// sent. Whatever else set it, or nothing, it did not; set by the startup packet to
    /// another value (a proxy rewrote it), it was changed, and what the session has is kept.
    #[test]
    fn a_setting_arrived_when_the_startup_packet_set_it_to_the_value_sent() {
        let sent = |name: &str, value: &str, ours: bool| SentSetting {
            name: name.to_string(),
            value: value.to_string(),
            ours,
        };
        let settings = [
            sent("client_connection_check_interval", "1000", true),
            sent("search_path", "app", false),
            sent("role", "owner", false),
            sent("app.tenant", "a b", false),
            sent("statement_timeout", "5s", false),
        ];
        let names = |read: &str| -> Vec<(String, Option<String>)> {
            unmatched_options(&settings, Some(read))
                .into_iter()
                .map(|u| (u.sent.name, u.changed_to))
                .collect()
        };
        // Each setting's `"source","value"` as the session says it, and what `RESET` gives
        // `statement_timeout`.
        let read_resetting = |values: [&str; 5], reset: &str| {
            let columns = [
                r#""integer","ms","1000","0""#.to_string(),
                r#""string",null,"app","\"$user\", public""#.to_string(),
                "null,null,null,null".to_string(),
                "null,null,null,null".to_string(),
                format!(r#""integer","ms","{reset}","0""#),
            ];
            let all: Vec<String> = values
                .iter()
                .zip(columns)
                .map(|(v, c)| {
                    let (source, value) = v.split_once(',').unwrap();
                    format!("[{value},{source},{c}]")
                })
                .collect();
            format!("[{}]", all.join(","))
        };
        let read = |values: [&str; 5]| read_resetting(values, "5s");
        let arrived = r#""client","1000""#;
        assert!(names(&read([
            arrived,
            r#""client","app""#,
            r#"null,"owner""#,
            r#"null,"a b""#,
            r#""client","5s""#,
        ]))
        .is_empty());
        assert_eq!(
            names(&read([
                r#""default","0""#,
                r#""database","app""#,
                r#"null,"none""#,
                r#"null,null"#,
                r#""default","0""#,
            ])),
            [
                "client_connection_check_interval",
                "search_path",
                "role",
                "app.tenant",
                "statement_timeout"
            ]
            .map(|n| (n.to_string(), None))
        );
        assert_eq!(
            names(&read([
                r#""client","500""#,
                r#""client","app, public""#,
                r#"null,"owner""#,
                r#"null,"a""#,
                r#""client","9s""#,
            ])),
            [
                ("client_connection_check_interval", Some("500")),
                ("search_path", Some("app, public")),
                ("app.tenant", None),
                ("statement_timeout", Some("9s")),
            ]
            .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
        );
        // `statement_timeout` set by the message's own `SET LOCAL`: what `RESET` gives it is
        // the startup packet's.
        let own_set = [
            arrived,
            r#""client","app""#,
            r#"null,"owner""#,
            r#"null,"a b""#,
            r#""session","0""#,
        ];
        assert!(names(&read(own_set)).is_empty());
        assert_eq!(
            names(&read([
                arrived,
                r#""session","app""#,
                r#"null,"owner""#,
                r#"null,"a b""#,
                r#""client","5000""#,
            ])),
            [("search_path".to_string(), None)]
        );
        assert_eq!(
            names(&read_resetting(own_set, "9s")),
            [("statement_timeout".to_string(), Some("9s".to_string()))]
        );
        assert_eq!(
            names(&read_resetting(own_set, "0")),
            [("statement_timeout".to_string(), None)]
        );
        // Set over the startup packet's value (a pooler's `connect_query`): changed.
        assert_eq!(
            names(&read([
                arrived,
                r#""session","other""#,
                r#"null,"owner""#,
                r#"null,"a b""#,
                r#""client","5s""#,
            ])),
            [("search_path".to_string(), Some("other".to_string()))]
        );
        assert_eq!(unmatched_options(&settings, None).len(), settings.len());
        assert!(unmatched_options(&[], None).is_empty());
    }

    /// A value sent is the server's when the server reads it so, whatever its spelling: a
    /// number in another unit of its kind, a boolean's other words, an enum's case, a
    /// `DateStyle` half; a different number, word or schema is not.
    #[test]
    fn a_value_sent_is_compared_as_the_server_reads_it() {
        let same = |name: &str, sent: &str, has: &str, vartype: &str, unit: Option<&str>| {
            same_value(name, sent, has, Some(vartype), unit)
        };
        assert!(same(
            "statement_timeout",
            "5000",
            "5s",
            "integer",
            Some("ms")
        ));
        assert!(same("statement_timeout", "5s", "5s", "integer", Some("ms")));
        assert!(same("lock_timeout", "1min", "1min", "integer", Some("ms")));
        assert!(same("lock_timeout", "60s", "1min", "integer", Some("ms")));
        assert!(!same(
            "statement_timeout",
            "5s",
            "9s",
            "integer",
            Some("ms")
        ));
        assert!(!same("statement_timeout", "0", "5s", "integer", Some("ms")));
        assert!(same("work_mem", "4096", "4MB", "integer", Some("kB")));
        assert!(same("work_mem", "4MB", "4MB", "integer", Some("kB")));
        assert!(!same("work_mem", "4MB", "8MB", "integer", Some("kB")));
        assert!(!same("work_mem", "4s", "4MB", "integer", Some("kB")));
        assert!(same("temp_buffers", "1MB", "1MB", "integer", Some("8kB")));
        assert!(same("extra_float_digits", "3", "3", "integer", None));
        assert!(same("seq_page_cost", "1.50", "1.5", "real", None));
        assert!(!same("seq_page_cost", "2", "1.5", "real", None));
        assert!(same("jit", "true", "on", "bool", None));
        assert!(same("jit", "0", "off", "bool", None));
        assert!(same("jit", "y", "on", "bool", None));
        assert!(!same("jit", "on", "off", "bool", None));
        assert!(same("synchronous_commit", "OFF", "off", "enum", None));
        assert!(same("synchronous_commit", "true", "on", "enum", None));
        assert!(!same("synchronous_commit", "local", "off", "enum", None));
        assert!(same("timezone", "utc", "UTC", "string", None));
        assert!(same("datestyle", "iso", "ISO, MDY", "string", None));
        assert!(!same("datestyle", "german", "ISO, MDY", "string", None));
        assert!(same(
            "search_path",
            "app,public",
            "app, public",
            "string",
            None
        ));
        assert!(!same("search_path", "app", "app, public", "string", None));
        assert!(!same("search_path", "\"App\"", "\"app\"", "string", None));
        assert!(!same("application_name", "a", "b", "string", None));
    }

    fn seen(session: &str, vxid: &str) -> Seen {
        Seen {
            session: session.to_string(),
            vxid: vxid.to_string(),
        }
    }

    /// Our connection on server session 10, the probe on 20, each transaction the next one of
    /// its server session: what session pooling and a direct connection look like.
    fn kept() -> Observed {
        Observed {
            session: "10 7".to_string(),
            first: seen("10 7", "3/100"),
            rounds: (0..4)
                .map(|i| {
                    (
                        Some(seen("20 7", &format!("4/{}", 50 + i))),
                        seen("10 7", &format!("3/{}", 101 + i)),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn connections_that_keep_their_server_sessions_share_nothing() {
        assert_eq!(kept().shared(), None);
        // A probe that got no answer after its first transaction: ours alone tell.
        let mut quiet = kept();
        for round in &mut quiet.rounds[1..] {
            round.0 = None;
        }
        assert_eq!(quiet.shared(), None);
    }

    #[test]
    fn a_connection_moved_to_another_server_session_is_conclusive() {
        let mut o = kept();
        o.rounds[2].1 = seen("11 7", "5/9");
        assert_eq!(
            o.shared(),
            Some(Shared::Moved {
                from: "10".to_string(),
                to: "11".to_string()
            })
        );
        // Moved since the state read, the probe's own move, another server's same pid.
        let mut o = kept();
        o.session = "12 7".to_string();
        assert!(matches!(o.shared(), Some(Shared::Moved { .. })));
        let mut o = kept();
        o.rounds[3].0 = Some(seen("21 7", "6/1"));
        assert!(matches!(o.shared(), Some(Shared::Moved { .. })));
        let mut o = kept();
        o.rounds[1].1 = seen("10 8", "3/102");
        assert!(matches!(o.shared(), Some(Shared::Moved { .. })));
    }

    #[test]
    fn both_connections_on_one_server_session_is_conclusive() {
        let mut o = kept();
        for round in &mut o.rounds {
            round.0 = Some(seen("10 7", "3/1"));
        }
        assert_eq!(
            o.shared(),
            Some(Shared::Both {
                pid: "10".to_string()
            })
        );
    }

    #[test]
    fn other_transactions_on_our_server_session_in_two_rounds_are_conclusive() {
        // Another client took our server session and gave it back, twice.
        let mut o = kept();
        o.rounds[1].1.vxid = "3/105".to_string();
        o.rounds[2].1.vxid = "3/106".to_string();
        o.rounds[3].1.vxid = "3/109".to_string();
        assert_eq!(
            o.shared(),
            Some(Shared::Served {
                pid: "10".to_string()
            })
        );
        // Once is what an idle server session does now and then on its own.
        let mut o = kept();
        o.rounds[1].1.vxid = "3/105".to_string();
        o.rounds[2].1.vxid = "3/106".to_string();
        o.rounds[3].1.vxid = "3/107".to_string();
        assert_eq!(o.shared(), None);
        // The probe's server session counts too; a round without its answer does not.
        let mut o = kept();
        o.rounds[1].0 = Some(seen("20 7", "4/60"));
        o.rounds[2].0 = Some(seen("20 7", "4/70"));
        assert_eq!(
            o.shared(),
            Some(Shared::Served {
                pid: "20".to_string()
            })
        );
        let mut o = kept();
        o.rounds[1].0 = None;
        o.rounds[2].0 = None;
        o.rounds[1].1.vxid = "3/150".to_string();
        o.rounds[2].1.vxid = "3/151".to_string();
        o.rounds[3].1.vxid = "3/152".to_string();
        assert_eq!(o.shared(), None);
        // An id that does not read as one is no proof of the next transaction.
        let mut o = kept();
        o.rounds[1].1.vxid = String::new();
        o.rounds[2].1.vxid = String::new();
        assert!(matches!(o.shared(), Some(Shared::Served { .. })));
    }
    use std::net::SocketAddr;

    fn at(s: &str) -> Option<SocketAddr> {
        Some(s.parse().expect("a socket address"))
    }

    #[test]
    fn the_address_and_port_dialled_is_direct() {
        assert!(is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1"),
            Some("5432")
        ));
        assert!(is_direct(
            at("10.1.2.3:6543"),
            Some("10.1.2.3"),
            Some("6543")
        ));
        assert!(is_direct(at("[::1]:5432"), Some("::1"), Some("5432")));
        assert!(is_direct(
            at("[2001:db8::7]:5432"),
            Some("2001:db8::7"),
            Some("5432")
        ));
    }

    #[test]
    fn an_ipv4_address_and_its_mapped_ipv6_form_are_the_same() {
        assert!(is_direct(
            at("127.0.0.1:5432"),
            Some("::ffff:127.0.0.1"),
            Some("5432")
        ));
        assert!(is_direct(
            at("[::ffff:10.0.0.9]:5432"),
            Some("10.0.0.9"),
            Some("5432")
        ));
    }

    #[test]
    fn a_pooler_on_another_port_of_the_same_machine_is_not_direct() {
        // PgBouncer on 6432 in front of the server on 5432, both on the loopback.
        assert!(!is_direct(
            at("127.0.0.1:6432"),
            Some("127.0.0.1"),
            Some("5432")
        ));
    }

    #[test]
    fn a_pooler_on_the_same_port_at_another_address_is_not_direct() {
        // Another container, NAT, a Kubernetes service: the server sees its own address.
        assert!(!is_direct(
            at("10.0.0.2:5432"),
            Some("10.0.0.3"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("10.96.0.10:5432"),
            Some("10.244.1.7"),
            Some("5432")
        ));
        assert!(!is_direct(at("127.0.0.1:5432"), Some("::1"), Some("5432")));
        assert!(!is_direct(
            at("[::1]:5432"),
            Some("127.0.0.1"),
            Some("5432")
        ));
    }

    #[test]
    fn another_host_of_a_multi_host_list_is_not_direct() {
        // The answer is compared with the host that answered, never with the list.
        assert!(!is_direct(
            at("192.0.2.1:5432"),
            Some("192.0.2.2"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("192.0.2.1:5432"),
            Some("192.0.2.1"),
            Some("5433")
        ));
    }

    #[test]
    fn what_is_not_known_is_not_direct() {
        // A Unix socket: nothing dialled over TCP, and the server answers NULL.
        assert!(!is_direct(None, None, None));
        assert!(!is_direct(None, Some("127.0.0.1"), Some("5432")));
        assert!(!is_direct(at("127.0.0.1:5432"), None, None));
        assert!(!is_direct(at("127.0.0.1:5432"), Some(""), Some("")));
        assert!(!is_direct(at("127.0.0.1:5432"), Some("127.0.0.1"), None));
        assert!(!is_direct(at("127.0.0.1:5432"), None, Some("5432")));
        // A network rather than a host address, garbage, a port out of range.
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1/8"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("localhost"),
            Some("5432")
        ));
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1"),
            Some("70000")
        ));
        assert!(!is_direct(
            at("127.0.0.1:5432"),
            Some("127.0.0.1"),
            Some("-1")
        ));
    }

    #[test]
    fn a_stop_cancels_by_the_session_only_on_a_direct_connection() {
        let identity = Some("4242 1700000000000000");
        assert_eq!(
            direct_identity(
                at("127.0.0.1:5432"),
                identity,
                Some("127.0.0.1"),
                Some("5432")
            )
            .as_deref(),
            identity
        );
        // Through a pooler, a Unix socket: the server session may be another client's by the
        // time of the stop.
        for (dialled, addr, port) in [
            (at("127.0.0.1:6432"), Some("127.0.0.1"), Some("5432")),
            (None, None, None),
            (at("127.0.0.1:5432"), None, None),
        ] {
            assert_eq!(direct_identity(dialled, identity, addr, port), None);
        }
        assert_eq!(
            direct_identity(at("127.0.0.1:5432"), None, Some("127.0.0.1"), Some("5432")),
            None
        );
    }
}
