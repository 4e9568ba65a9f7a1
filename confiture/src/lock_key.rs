//! The key class of confiture's migration lock: the first key of every advisory lock that
//! confiture (Python) and this tool take on a database. Pure, so that lint (`C107`) knows it
//! without the `db` feature; `db::lock` takes the lock with it and re-exports it.

/// The first key of confiture's advisory lock, a constant in confiture's source
/// (`shared/reference/confiture-interop.md`): `pg_advisory_lock(LOCK_NAMESPACE, lock_id)`,
/// the second key naming the database (or one tenant schema of it).
pub const LOCK_NAMESPACE: i32 = 1751936052;
