//! Refusing a database that cannot be written before anything is tried: a standby in recovery
//! (`pg_is_in_recovery()`), or a database whose sessions start read-only
//! (`default_transaction_read_only`, set for the database, the role or the server). Without
//! this, `up` would fail on its first write with a message about that statement, possibly after
//! waiting for the lock. The check shares its round trip with the lock's `current_database()`,
//! and so does the server's end of the connection, which spares the pooler check its second
//! connection when nothing sits between us and the server (`connect::is_direct`).

use std::time::Duration;

use postgres::{Client, SimpleQueryMessage};

use super::connect::Reached;
use super::query_error;
use super::settings::{lift, SettingOrigin};
use crate::config::{Environment, TargetSessionAttrs};
use crate::error::{Error, Result};
use crate::plan::Effect;

/// What the check needs to name the database in its error, taken from the environment before
/// the connection is borrowed.
#[derive(Debug, Clone)]
pub struct Target {
    /// `user@host:port/db`, never a password.
    pub connection: String,
    /// Where the connection settings come from (`environment file ...`, `--database-url`):
    /// for a database a fleet lists by name, its fleet's environment, which writes its host
    /// and settings ([`Environment::server_source`]), never the list's line, which holds only
    /// the name.
    pub source: String,
    /// To open the second connection of the pooler check.
    environment: Environment,
    /// The tenant schema whose migration lock the run takes (`MigrationSettings::tenant_schema`).
    pub tenant_schema: Option<String>,
    /// The host the connection reached and the address it dialled (`connect::Reached`);
    /// `None` for a connection handed over. Without an address dialled (that, a Unix socket)
    /// the pooler check runs in full.
    pub(crate) reached: Option<Reached>,
    /// Set when the pooler check opens its second connection (the session is not direct:
    /// a Unix socket, a pooler, NAT): a fleet's targets share it, and the help of a target
    /// refused for too many connections counts that connection ([`Migrator`]'s
    /// `second_connection`).
    ///
    /// [`Migrator`]: crate::Migrator
    pub(crate) second_connection: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// What the writing command does with its migrations, which its refusals end by saying it
    /// did not do ([`Effect::nothing_done`]): `up` and `down` run them (the default),
    /// `baseline` and `reinit` record them.
    pub(crate) effect: Effect,
    /// A dry run's session (`connect::Need::Read`), which [`check_preview`] checks: a standby
    /// it reached is no refusal (a dry run may read one; its run goes to the primary). The
    /// pooler check runs as the run's does: it writes nothing.
    pub(crate) preview: bool,
}

impl Target {
    /// The target `env` names.
    pub fn of(env: &Environment) -> Target {
        Target {
            connection: env.connection.to_string(),
            source: env.server_source(),
            environment: env.clone(),
            tenant_schema: env.migration.tenant_schema.clone(),
            reached: None,
            second_connection: None,
            effect: Effect::Runs,
            preview: false,
        }
    }

    /// The target `env` names, reached on `reached`'s host (named in errors: the host of the
    /// list the session is on).
    pub(crate) fn reached(env: &Environment, reached: Option<&Reached>) -> Target {
        let mut target = Target::of(env);
        if let Some(reached) = reached {
            target.connection = reached.spec(&env.connection).to_string();
            target.reached = Some(reached.clone());
        }
        target
    }
}

/// The help of a writing command refused because of `target_session_attrs` in `source`.
fn attrs_help(source: &str, attrs: TargetSessionAttrs) -> String {
    format!(
        "writing commands (up, down, baseline, reinit) need target_session_attrs=read-write or \
         primary in {source}, or no target_session_attrs; reading commands (status, dry runs) \
         may keep {attrs}"
    )
}

/// Refuses, before connecting, a writing command (`up`, `down`, `baseline`, `reinit`) whose
/// connection asks for a session that cannot write (`target_session_attrs=read-only` or
/// `standby`, [`TargetSessionAttrs::never_writes`]): connecting would fail on a primary ("is
/// not read-only") or succeed on a standby only to be refused there. Exit 3, as the refusal
/// of a standby or read-only session is. Reading commands (`status`, dry runs) take any. The
/// message ends with what the command did not do (`effect`).
pub fn refuse_reading_session(env: &Environment, effect: Effect) -> Result<()> {
    let attrs = env.connection.target_session_attrs;
    if !attrs.never_writes() {
        return Ok(());
    }
    let source = env.server_source();
    Err(Error::connection(format!(
        "a writing command needs a read-write session on the primary, but {source} asks for \
         target_session_attrs={attrs}, a session that cannot write; {}",
        effect.nothing_done()
    ))
    .with_help(attrs_help(&source, attrs)))
}

/// The session's `current_database()`, after checking that the session can write (exit 3 if
/// not, naming the database) and that it does not go through a transaction-pooling pooler
/// (exit 5, `connect::refuse_transaction_pooling`, skipped when the server's end of the
/// connection is the address and port dialled: `connect::is_direct`).
///
/// The session was opened for writing (`connect::Need::Write`): with several hosts and
/// `target_session_attrs=any` (the default) it is on the first host that can write.
///
/// What the pooler check could not tell, without refusing, is added to `warnings`.
pub fn check(
    client: &mut Client,
    target: &Target,
    wait: Duration,
    warnings: &mut Vec<String>,
) -> Result<String> {
    crate::migrator::blocking_here(|| check_session(client, target, wait, warnings))
        .map(|(database, _)| database)
}

/// What a dry run of a writing command (`up`, `down`, `baseline`, `reinit`, `abandon`) refuses
/// of its session, as its run refuses it ([`check`]'s refusals, one owner): a read-only
/// database (`default_transaction_read_only`, exit 3) and a session reading strings with
/// escapes (exit 5), a transaction-pooling pooler (exit 5: the pooler check runs two read-only
/// transactions and a probe connection, and writes nothing; what it could not tell is added to
/// `warnings`, as the run's). Not a standby in recovery: a dry run may read one, whose run goes
/// to the primary ([`TargetSessionAttrs`]).
pub(crate) fn check_preview(
    client: &mut Client,
    env: &Environment,
    reached: Option<&Reached>,
    effect: Effect,
    wait: Duration,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut target = Target::reached(env, reached);
    target.effect = effect;
    target.preview = true;
    check_session(client, &target, wait, warnings).map(|_| ())
}

/// [`check`], with the server session a stop may cancel from a session of its own, read in
/// the same round trip: known when the connection reaches the server directly
/// ([`super::connect::direct_identity`]), so that a run's stop never needs a cancel request
/// from its first round trip on (`apply::Stop::on_session`).
pub(crate) fn check_session(
    client: &mut Client,
    target: &Target,
    wait: Duration,
    warnings: &mut Vec<String>,
) -> Result<(String, Option<String>)> {
    let sent = super::connect::sent_settings(&target.environment, target.reached.as_ref());
    let messages = read_state(client, wait, &target.environment, &sent)?;
    let attrs = target.environment.connection.target_session_attrs;
    let dialled = target.reached.as_ref().and_then(|r| r.dialled);
    let value = |messages: &[SimpleQueryMessage], i: usize| -> Option<String> {
        messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(i).map(str::to_string),
            _ => None,
        })
    };
    let column = |messages: &[SimpleQueryMessage], i: usize| -> String {
        value(messages, i).unwrap_or_default()
    };
    let identity = super::connect::direct_identity(
        dialled,
        value(&messages, 3).as_deref(),
        value(&messages, 4).as_deref(),
        value(&messages, 5).as_deref(),
    );
    let direct = identity.is_some();
    let column = |i: usize| column(&messages, i);
    let database = column(0).to_string();
    let Target {
        connection,
        source,
        environment,
        effect,
        ..
    } = target;
    let nothing_done = effect.nothing_done();
    let standby = column(1) == "t";
    if standby && target.preview {
        // Read-only as every standby is: the run's session is the primary's.
    } else if standby {
        let error = Error::connection(format!(
            "database {connection} is on a standby in recovery, which cannot be written; \
             {nothing_done}"
        ));
        if attrs.prefers_standby() {
            // The URL chose the standby: pointing it at the primary would not help.
            return Err(error
                .with_detail(format!(
                    "target_session_attrs={attrs} in {source} chose it: a writing command \
                     needs a read-write session on the primary"
                ))
                .with_help(attrs_help(source, attrs)));
        }
        return Err(error.with_help(format!(
            "migrations run on the primary: point {source} at the primary server (after a \
             failover, at the promoted one)"
        )));
    }
    if column(2) == "on" && !standby {
        return Err(Error::connection(format!(
            "database {connection} is read-only (transaction_read_only is on); {nothing_done}"
        ))
        .with_help(format!(
            "migrations need a writable primary: check the host in {source}; if the database was \
             made read-only on purpose, turn it off first: {}",
            lift(
                "default_transaction_read_only",
                "off",
                &SettingOrigin {
                    source: column(6),
                    database: database.clone(),
                    role: column(7),
                    startup_options_refused: false,
                },
                source,
                Some(&environment.connection),
            )
        )));
    }
    // Before the settings the options give are read as the session's: without them, a tenant's
    // migrations would build in another schema.
    let unmatched = super::connect::unmatched_options(&sent, value(&messages, 10).as_deref());
    let dropped = unmatched.iter().any(|u| u.sent.ours);
    super::connect::refuse_dropped_options(
        environment,
        connection,
        &unmatched,
        value(&messages, 11)
            .as_deref()
            .filter(|_| target.reached.is_some()),
        Some(*effect),
    )?;
    if column(8) == "off" {
        return Err(Error::invalid(format!(
            "database {connection} reads backslashes in '...' strings as escapes \
             (standard_conforming_strings is off), while the migration files, lint and the \
             tool's own SQL read them as written; {nothing_done}"
        ))
        .with_help({
            let refused = dropped || target.reached.as_ref().is_some_and(|r| r.without_options);
            let lifted = lift(
                "standard_conforming_strings",
                "on",
                &SettingOrigin {
                    source: column(9),
                    database: database.clone(),
                    role: column(7),
                    startup_options_refused: refused,
                },
                source,
                Some(&environment.connection),
            );
            match refused {
                true => lifted,
                false => format!(
                    "the tool turns it on for its sessions, unless the connection says \
                     otherwise: {lifted}"
                ),
            }
        }));
    }
    if !direct {
        // Before the second connection is opened: its refusal is counted too.
        if let Some(flag) = &target.second_connection {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        super::connect::refuse_transaction_pooling(
            client,
            environment,
            target.reached.as_ref(),
            &column(3),
            *effect,
            warnings,
        )?;
    }
    Ok((database, identity))
}

/// The database, whether it is in recovery, whether the session is read-only, the server
/// session's identity and the server's end of the connection (address and port, NULL over a
/// Unix socket: [`super::connect::identity_columns`]), where the session's
/// `default_transaction_read_only` comes from, the login role, and the session's
/// `standard_conforming_strings` and where it comes from, and whether the startup options
/// reached the server ([`super::connect::options_columns`]), in one round trip. The first
/// message of a writing session: it puts the session's `statement_timeout` at ours for what
/// follows ([`super::apply::WRITING_SESSION_BOUND`]). It runs under the connection's only
/// when the session keeps it (`connect::Need::Write`: a run with no `statement_timeout` of its
/// own) or our startup options did not reach the server: otherwise the startup packet turned
/// it off before any message (`connect::Need::WriteBounded`), as a database's 1 ms cancelled
/// this very read on a loaded server before its `SET` took effect.
///
/// A new session looks its functions up in `pg_proc` (and its catalogs up in `pg_class`) as it
/// plans this read: behind another session's lock on such a catalog (`LOCK
/// pg_catalog.pg_proc`, `VACUUM FULL`, `CLUSTER`), held for a second or left idle in its
/// transaction, it waited as long as that lock lasted, before any of the command's bounds
/// were set. It waits at most `wait`, the command's lock wait (`--lock-wait`: how long it
/// waits for another session's lock), then exit 6 naming the catalog's holders, as a ledger
/// read in the same place does.
fn read_state(
    client: &mut Client,
    wait: Duration,
    env: &Environment,
    sent: &[super::connect::SentSetting],
) -> Result<Vec<SimpleQueryMessage>> {
    let waited = super::lock::ServerWait::new(wait);
    client
        .simple_query(&format!(
            "{} {} SET LOCAL lock_timeout = '{}ms'; \
             SELECT pg_catalog.current_database(), pg_catalog.pg_is_in_recovery(), \
             pg_catalog.current_setting('transaction_read_only'), {}, \
             (SELECT s.source FROM pg_catalog.pg_settings s \
              WHERE s.name OPERATOR(pg_catalog.=) 'default_transaction_read_only'), \
             SESSION_USER, pg_catalog.current_setting('standard_conforming_strings'), \
             (SELECT s.source FROM pg_catalog.pg_settings s \
              WHERE s.name OPERATOR(pg_catalog.=) 'standard_conforming_strings'), {}",
            super::apply::WRITING_SESSION_BOUND,
            super::own_read_bounds(),
            wait.as_millis().clamp(1, i32::MAX as u128),
            super::connect::identity_columns(),
            super::connect::options_columns(sent)
        ))
        .map_err(|e| {
            let what = "cannot read the session's state";
            if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE)
                && !super::is_connection_lost(&e)
            {
                let mut error = super::ledger::read_lock_error(
                    client,
                    what.to_string(),
                    &waited,
                    Vec::new(),
                    Some(env),
                );
                error.set_source(e);
                return error;
            }
            query_error(what, e)
        })
}
