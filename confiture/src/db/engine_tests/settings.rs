//! A database's own settings against a real PostgreSQL: read from `pg_db_role_setting` in a
//! transaction that cannot write, and copied onto another database so that the server stores
//! exactly the same values (quoted list elements, quotes, backslashes, dotted names).

use super::apply_support;

use apply_support::{rows, TestDb};
use confiture::db::settings::{self, DatabaseSettings};
use postgres::error::SqlState;

/// The settings `ALTER DATABASE` / `ALTER ROLE ... IN DATABASE` stored for `db`, as the server
/// keeps them: `<role or *> <name=value>`, in order.
fn stored(db: &TestDb) -> Vec<String> {
    rows(
        &mut db.client(),
        "SELECT CASE WHEN s.setrole = 0 THEN '*' ELSE pg_get_userbyid(s.setrole)::text END || ' ' || c \
         FROM pg_db_role_setting s, unnest(s.setconfig) WITH ORDINALITY AS u(c, n) \
         WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         ORDER BY s.setrole, u.n",
    )
}

#[test]
fn the_settings_read_from_one_database_are_stored_alike_on_another() {
    let from = TestDb::new("settings_from");
    let to = TestDb::new("settings_to");
    from.client()
        .batch_execute(&format!(
            "ALTER DATABASE \"{db}\" SET search_path = \"My \"\"app\"\"\", \"$user\", public;\n\
             ALTER DATABASE \"{db}\" SET check_function_bodies = off;\n\
             ALTER DATABASE \"{db}\" SET DateStyle = 'ISO, DMY';\n\
             ALTER DATABASE \"{db}\" SET statement_timeout = '5s';\n\
             ALTER DATABASE \"{db}\" SET TIME ZONE 'Europe/Paris';\n\
             ALTER DATABASE \"{db}\" SET app.note = 'it''s a \\ \"value\", with = and ,';\n\
             ALTER ROLE SESSION_USER IN DATABASE \"{db}\" SET search_path = '';\n\
             ALTER ROLE SESSION_USER IN DATABASE \"{db}\" SET \"App\".\"Mixed_Case\" = '';",
            db = from.name
        ))
        .unwrap();
    let read = settings::read(&from.environment()).unwrap().unwrap();
    assert_eq!(read.database.len(), 6, "{read:?}");
    assert_eq!(read.role.len(), 2, "{read:?}");
    let refused = read.copy_to(&to.environment()).unwrap();
    assert_eq!(refused, Vec::new());
    assert_eq!(stored(&to), stored(&from));
    assert_eq!(stored(&to).len(), 8);
    // A new session of that database starts with them.
    let search_path = rows(&mut to.client(), "SHOW search_path");
    assert_eq!(search_path, ["\"\""]);
}

#[test]
fn a_database_without_settings_reads_none_and_a_missing_one_reads_nothing() {
    let db = TestDb::new("settings_none");
    let read = settings::read(&db.environment()).unwrap().unwrap();
    assert_eq!(
        (read.database, read.role),
        (DatabaseSettings::default().database, Vec::new())
    );
    // Its encoding and locale are read all the same: a scratch database is created with them.
    let locale = read.locale.expect("the locale of an existing database");
    assert!(!locale.encoding.is_empty() && !locale.collate.is_empty());
    let mut missing = db.environment();
    missing.connection.dbname = format!("{}_missing", db.name);
    assert_eq!(settings::read(&missing).unwrap(), None);
}

#[test]
fn the_read_transaction_cannot_write() {
    let db = TestDb::new("settings_read_only");
    let mut client = db.client();
    let err = settings::read_only(&mut client, |tx| {
        tx.batch_execute("CREATE TABLE written (a int)")
    })
    .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        "{err}"
    );
    let err = settings::read_only(&mut client, |tx| {
        tx.batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET work_mem = '1MB'",
            db.name
        ))
    })
    .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        "{err}"
    );
    // The session is usable after, outside any transaction, and nothing was written.
    assert_eq!(
        rows(&mut client, "SELECT to_regclass('written') IS NULL"),
        ["t"]
    );
    assert_eq!(stored(&db), Vec::<String>::new());
}
