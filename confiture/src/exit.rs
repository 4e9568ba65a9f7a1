//! Exit codes: a public contract with deployment scripts (the seed's `case $? in` example).
//!
//! Every code the CLI can return is here, documented once. Codes 0–3 are fixed by the seed
//! for `migrate status`; the rest are ours. clap's usage errors are mapped to [`USAGE`], never
//! to 2, because 2 means "tracking table not initialised" to scripts that follow the seed.

/// Success: the command did what was asked (for `status`: every migration is applied).
pub const SUCCESS: u8 = 0;
/// `migrate status`: pending migrations exist.
pub const PENDING: u8 = 1;
/// `migrate status`: the tracking table does not exist yet (`migrate up` creates it).
pub const NOT_INITIALISED: u8 = 2;
/// Cannot connect: refused, timed out, authentication, unknown database, TLS; the connection
/// was lost mid-run (terminated backend, server restart); or the database cannot be written
/// (a standby in recovery, `default_transaction_read_only`), which `up`, `down`, `baseline` and
/// `reinit` check right after connecting, before anything is tried, or the connection asks for a
/// session that cannot write (`target_session_attrs` `read-only` or `standby`), which they
/// refuse before connecting. Usually worth retrying once the server (or the failover) is back.
pub const CONNECTION: u8 = 3;
/// A migration's SQL failed on the server (it was rolled back; earlier ones stay applied); or
/// a schema file of `migrate drift --schema-dir` failed on its scratch database (named by
/// file, line and column).
pub const MIGRATION_FAILED: u8 = 4;
/// Invalid configuration or migration files (lint errors, bad environment file, invalid
/// migration name, migration files on disk that cannot be read — `status` shows such a
/// migration as `unreadable`; a tracking table that cannot be created (no schema to create it
/// in, no CREATE on its schema), or that the role may not write as the command needs, or that
/// row-level security applies to: the ledger's own SQL failing is never [`MIGRATION_FAILED`]);
/// `migrate verify` or `migrate drift` that would replay, on the target's own server (no
/// `--scratch-url` naming another), a statement whose effect is the server's and that the run
/// could not put back (`ALTER SYSTEM`, a replication slot, `COPY ... PROGRAM`, a role that was
/// there before): refused before anything is replayed, each statement named by file and line;
/// `migrate generate` finding the claim file a killed `generate` left (`rm` it).
/// A flag value that makes no sense (`--steps 0`) is [`USAGE`].
pub const INVALID: u8 = 5;
/// The migration lock was not acquired within `--lock-wait`; or `migrate generate`'s claim
/// on the next version: other `generate` runs in the directory held it for 10 s (a claim left
/// by a killed run, older than 30 s, is a file for a person to remove: [`INVALID`]).
pub const LOCK_TIMEOUT: u8 = 6;
/// History diverged: an applied migration was modified or is missing, a version is recorded
/// twice, or one is out of order; a ledger row is ambiguous (nothing tells which file it
/// records: `migrate status` says how to decide); or the migration lock was found lost when the run gave it
/// back (something in the session released it: another run may have overlapped); or another
/// session wrote the ledger row of the migration `up` was applying, during the run (a writer
/// that takes no migration lock, such as confiture (Python)'s `migrate baseline`): the
/// migration rolled back, and the ledger records it all the same; or `up`
/// found no ledger in a database that already holds objects where the migrations build
/// ([`crate::ledger::Unrecorded`]: its ledger was lost, or its schema built by other means),
/// without `--allow-non-empty`; or a no-transaction migration is `interrupted`: a run started
/// it and never finished (killed, disconnected, or stopped after one of its statements
/// committed: its start marker, [`crate::ledger::StartedRun`], is left) — `migrate status`
/// shows it so, and `up` (`down`) refuses to run it again, nothing run, until a person checks
/// the schema and records it (`migrate baseline --through V`) or runs it again on purpose
/// (`--rerun-interrupted`).
pub const DIVERGED: u8 = 7;
/// Rollback impossible: a migration to roll back is marked `-- confiture:irreversible`.
pub const IRREVERSIBLE: u8 = 8;
/// `migrate verify`: a down migration does not restore the schema of before its up, or an up
/// gives another schema (or fails) when applied again after its down. `migrate drift`: the
/// live database differs from its replayed history (or from `--schema-dir`).
pub const SCHEMA_CHECK_FAILED: u8 = 9;
/// A fleet (`--targets`, `--targets-query`): the targets that did not end with 0 ended with
/// different codes (each target's own code is in the JSON report). When they all ended with
/// the same code, the fleet exits with that code; when all ended with 0, with 0.
pub const FLEET_MIXED: u8 = 10;
/// Command-line usage error (unknown flag, missing argument, conflicting flags), as in sysexits.h;
/// and a command that takes one database (`migrate baseline`, `migrate reinit`) given an
/// environment whose file has a `fleet:` block, which means a fleet to the commands that take a
/// list: the command line picks one database instead (`--schema`, `-c FILE`, `--database-url`).
pub const USAGE: u8 = 64;
/// The command completed, but its result (the table, the report, the JSON document) could not
/// be written to stdout: a full disk, an I/O error (`> /dev/full`), a stdout closed when the
/// command started (`>&-`; `> /dev/null` is a stdout), a JSON document that could not be
/// made (a bug: nothing is written in its place, never an exit 0). What the command did
/// stands, nothing is undone; the error on stderr says so. A closed pipe (`| head`) is no
/// error. Only a success becomes this code: a run that failed, or a `status` that found
/// pending migrations, keeps its own code (its verdict on the database), with the same error
/// on stderr. sysexits.h's `EX_IOERR`.
pub const OUTPUT_FAILED: u8 = 74;
/// `migrate verify` / `migrate drift` interrupted (SIGINT, SIGTERM, SIGHUP): the scratch
/// databases were dropped before exiting. One database's `up` or `down` interrupted (SIGINT,
/// SIGTERM, SIGHUP): the running statement was cancelled and its migration rolled back (a
/// `no-transaction` one keeps what it committed, unrecorded), no other started, and the
/// report says what committed; `baseline` or `reinit`: the rewrite was rolled back;
/// `status`: the read ended. A fleet's `up`, `down` or `status` interrupted: no target
/// started after it, each running one was interrupted as one database is (its own code
/// 130), the partial report was printed. Never the code of a run that completed before the
/// signal could stop anything: the outcome wins. 128 + SIGINT, as shells report an
/// interrupted job.
pub const INTERRUPTED: u8 = 130;

/// Every code with its one-line meaning, in order; the README table is checked against it.
pub const ALL: &[(u8, &str)] = &[
    (SUCCESS, "success (status: database is up to date)"),
    (PENDING, "pending migrations exist (status)"),
    (NOT_INITIALISED, "tracking table not initialised (status)"),
    (
        CONNECTION,
        "cannot connect to the database, connection lost, or database read-only",
    ),
    (MIGRATION_FAILED, "a migration failed"),
    (INVALID, "invalid configuration or migration files"),
    (
        LOCK_TIMEOUT,
        "migration lock (or generate's claim on the next version) not acquired in time",
    ),
    (
        DIVERGED,
        "history diverged (applied migration modified or missing, a version recorded twice, or out of order; or no ledger while the database holds objects; or a no-transaction migration interrupted part-way)",
    ),
    (IRREVERSIBLE, "rollback impossible (irreversible migration)"),
    (
        SCHEMA_CHECK_FAILED,
        "schema check failed (verify: a down does not restore the schema or an up is not repeatable; drift: drift found)",
    ),
    (
        FLEET_MIXED,
        "fleet: targets failed with different codes (each target's code is in the JSON)",
    ),
    (USAGE, "usage error"),
    (
        OUTPUT_FAILED,
        "the command completed but its result could not be written to stdout (disk full, I/O error, stdout closed with `>&-`; not a closed pipe): what it did stands. Only instead of 0",
    ),
    (
        INTERRUPTED,
        "interrupted (up, down: the running migration was rolled back; baseline, reinit: the rewrite was rolled back; status: the read ended; verify, drift: the scratch databases were dropped; a fleet: the running targets' current migrations rolled back, partial report). Never for a run that completed before the signal could stop anything",
    ),
];
