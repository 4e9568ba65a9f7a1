//! `COPY` through the client reaching the engine (lint refuses it first, and the engine is
//! crate-private, but it must hold on its own): never reported as a lost connection.

use super::apply_support;

use std::time::Duration;

use apply_support::{Dir, TestDb};
use confiture::db::apply::ApplySettings;
use confiture::files::{self, CheckOptions};
use confiture::ErrorKind;

#[test]
fn copy_through_the_client_is_never_a_lost_connection() {
    for (copy, no_transaction) in [
        ("COPY t TO STDOUT;", false),
        ("COPY (SELECT 1) TO STDOUT;", false),
        ("COPY t FROM STDIN;", false),
        ("COPY t FROM STDIN", false),
        ("COPY t TO STDOUT;", true),
        ("COPY t FROM STDIN;", true),
    ] {
        let db = TestDb::new("copy");
        let dir = Dir::new();
        let marker = if no_transaction {
            "-- confiture:no-transaction\nCREATE INDEX CONCURRENTLY t_id ON t (id);\n"
        } else {
            ""
        };
        dir.migration("001", "t", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n")
            .migration("002", "copy", &format!("{marker}{copy}\n"), "SELECT 1;\n")
            .migration(
                "003",
                "after",
                "CREATE TABLE after (id int);\n",
                "DROP TABLE after;\n",
            );
        let checked = files::load(&dir.path, &CheckOptions::default()).unwrap();
        let mut client = db.client();
        let settings = ApplySettings {
            statement_timeout: Some(Duration::from_secs(5)),
            ..ApplySettings::for_tests()
        };
        super::create_ledger(&mut client, &settings.table, None).unwrap();
        let steps = super::up_steps(&checked.set);
        let (at, failure) = super::run_steps(&mut client, &settings, &steps).unwrap_err();
        let how = format!("{copy:?} no-transaction {no_transaction}");
        assert_eq!(at, 1, "{how}: {:?}", failure.error);
        assert_ne!(
            failure.error.kind,
            ErrorKind::Connection,
            "{how}: {:?}",
            failure.error
        );
        assert!(!db.table_exists("after"), "{how}");
    }
}
