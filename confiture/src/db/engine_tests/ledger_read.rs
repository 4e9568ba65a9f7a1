//! `db::ledger::read`: confiture's ledger, created with confiture's exact DDL and filled the
//! way confiture writes rows, is read back correctly — and reading creates nothing.
#![cfg(feature = "db")]

use super::common;

use common::{create_confiture_ledger, record_applied, TestDb};
use confiture::config::Environment;
use confiture::db::ledger;
use confiture::ledger::TrackingTable;
use confiture_test_support::reaper::DropRoleLater;

fn connect(db: &TestDb) -> postgres::Client {
    confiture::db::connect(&db.environment()).expect("connects")
}

/// When the rows of [`ledger_with`] were applied.
const APPLIED_AT: &str = "2026-01-15 10:30:00+00";

/// Creates confiture's ledger (in `schema`, else in `public`) and records `rows` (version, name)
/// in it as confiture writes them: no checksum, applied at [`APPLIED_AT`].
fn ledger_with(client: &mut postgres::Client, schema: Option<&str>, rows: &[(&str, &str)]) {
    create_confiture_ledger(client, schema);
    let table = match schema {
        Some(schema) => format!("{schema}.tb_confiture"),
        None => "tb_confiture".to_string(),
    };
    for (version, name) in rows {
        record_applied(client, &table, version, name, None, APPLIED_AT);
    }
}

/// The default tracking table read both ways, each refused as invalid (exit 5): its rows
/// (`ledger::read`, as the reading commands read it) and its access (`ledger::read_qualified`,
/// as the writing ones do).
fn both_reads_refused(client: &mut postgres::Client) -> [confiture::Error; 2] {
    let table = TrackingTable::default();
    let rows = ledger::read(client, &table).unwrap_err();
    let access = ledger::read_qualified(client, &table, ledger::DEFAULT_WAIT).unwrap_err();
    for err in [&rows, &access] {
        assert_eq!(err.exit_code(), confiture::exit::INVALID, "{err:?}");
    }
    [rows, access]
}

/// A login role of a test's own, dropped after the database (declare it before the database).
struct Role(DropRoleLater);

impl Role {
    fn new(prefix: &str) -> Self {
        Role(DropRoleLater(common::unique(prefix)))
    }

    fn name(&self) -> &str {
        &self.0 .0
    }

    /// `db`'s environment, connecting as this role.
    fn environment(&self, db: &TestDb) -> Environment {
        let mut env = db.environment();
        env.connection.user = self.name().to_string();
        env
    }
}

#[test]
fn absent_ledger_reads_as_none_and_names_where_it_would_be() {
    let db = TestDb::new("cft_ledger");
    let mut client = connect(&db);
    let table = TrackingTable::default();
    assert_eq!(ledger::read(&mut client, &table).unwrap(), None);
    assert_eq!(
        ledger::qualified_name(&mut client, &table)
            .unwrap()
            .as_deref(),
        Some("public.tb_confiture")
    );
    let qualified = TrackingTable::parse("nosuchschema.tb_confiture").unwrap();
    assert_eq!(ledger::read(&mut client, &qualified).unwrap(), None);
    assert_eq!(
        ledger::qualified_name(&mut client, &qualified)
            .unwrap()
            .as_deref(),
        Some("nosuchschema.tb_confiture")
    );
    // A search_path naming no existing schema: nowhere to create an unqualified name.
    client.batch_execute("SET search_path = ''").unwrap();
    assert_eq!(ledger::qualified_name(&mut client, &table).unwrap(), None);
    assert_eq!(ledger::read(&mut client, &table).unwrap(), None);
    // The session is still usable after the "undefined table" error.
    let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
}

#[test]
fn reads_rows_written_by_confiture_in_order_of_application() {
    let db = TestDb::new("cft_ledger");
    let mut setup = db.client();
    create_confiture_ledger(&mut setup, None);
    let sum = "a".repeat(64);
    // Inserted out of version order, and the second with an earlier clock, on purpose: the
    // ledger is read in the order its rows were written (`pk_confiture`), neither by version
    // nor by `applied_at`.
    record_applied(
        &mut setup,
        "tb_confiture",
        "010",
        "later",
        Some(&sum),
        "2026-01-20 14:22:00+00",
    );
    record_applied(
        &mut setup,
        "tb_confiture",
        "001",
        "first",
        None,
        "2026-01-15 10:30:00+02",
    );
    // Newer confiture versions may add columns: never fail on them.
    setup
        .batch_execute("ALTER TABLE tb_confiture ADD COLUMN archived_into TEXT")
        .unwrap();

    let mut client = connect(&db);
    let read = ledger::read(&mut client, &TrackingTable::default())
        .unwrap()
        .expect("ledger exists");
    assert_eq!(read.table, "public.tb_confiture");
    let versions: Vec<&str> = read.rows.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["010", "001"]);
    let first = &read.rows[1];
    assert_eq!(first.name, "first");
    assert_eq!(
        first.applied_at, "2026-01-15T08:30:00+00:00",
        "converted to UTC"
    );
    assert_eq!(first.checksum, None);
    assert_eq!(first.execution_time_ms, Some(12));
    assert_eq!(first.applied_by.as_deref(), Some("postgres"));
    assert_eq!(read.rows[0].checksum.as_deref(), Some(sum.as_str()));
    assert_eq!(read.rows[0].applied_at, "2026-01-20T14:22:00+00:00");
}

/// `applied_by` is read by name when the ledger has it, whatever its type, and is `None` for a
/// ledger made before confiture 0.17, which has no such column: one query for both.
#[test]
fn applied_by_is_read_whether_the_column_is_there_or_not_and_whatever_its_type() {
    let db = TestDb::new("cft_ledger");
    let mut setup = db.client();
    ledger_with(&mut setup, None, &[("001", "first")]);
    let read_back = |db: &TestDb| {
        let mut client = connect(db);
        let read = ledger::read(&mut client, &TrackingTable::default())
            .unwrap()
            .expect("ledger exists");
        assert_eq!(read.rows.len(), 1);
        let row = read.rows[0].clone();
        assert_eq!((row.version.as_str(), row.name.as_str()), ("001", "first"));
        assert_eq!(row.applied_at, "2026-01-15T10:30:00+00:00");
        row.applied_by
    };
    assert_eq!(read_back(&db).as_deref(), Some("postgres"));
    setup
        .batch_execute("ALTER TABLE tb_confiture DROP COLUMN applied_by")
        .unwrap();
    assert_eq!(read_back(&db), None, "a ledger from before confiture 0.17");
    setup
        .batch_execute(
            "ALTER TABLE tb_confiture ADD COLUMN applied_by integer; \
             UPDATE tb_confiture SET applied_by = 7",
        )
        .unwrap();
    assert_eq!(read_back(&db).as_deref(), Some("7"), "an altered ledger");
}

#[test]
fn finds_an_unqualified_ledger_through_search_path() {
    let db = TestDb::new("cft_ledger");
    let mut setup = db.client();
    ledger_with(&mut setup, Some("ops"), &[("001", "first")]);

    // Default search_path: public only, so the ledger in ops is not found — and, being a
    // ledger of that name elsewhere, refused (exit 5) rather than taken for no ledger at all.
    let mut client = connect(&db);
    let err = ledger::read(&mut client, &TrackingTable::default()).unwrap_err();
    assert_eq!(err.exit_code(), 5, "{err:?}");
    assert_eq!(
        err.message,
        "the tracking table tb_confiture is not on this session's search_path \
         `\"$user\", public`: a ledger of that name is ops.tb_confiture; nothing was read or \
         written"
    );
    // Either a tenant's ledger (`--schema ops`) — the whole database then gets its own,
    // qualified with the schema its session creates tables in — or the database's own, off
    // its search_path: where the path comes from, as the server says (its default here), and
    // the change that puts the ledger's schema on it; no environment known, the key alone.
    assert_eq!(
        err.help.as_deref().map(|help| help.replace(&db.name, "DB")),
        Some(
            "if ops.tb_confiture is the ledger of tenant schema ops (`--schema ops`, \
             `--schemas-query`), act on that tenant with `--schema ops`; for the whole database \
             to have a ledger of its own beside its tenants', set `migration.tracking_table: \
             public.tb_confiture`; if it is this database's own ledger, its search_path changed \
             since: put ops on the search_path (it is the server's default: give the database \
             its own, ALTER DATABASE DB SET search_path = \"$user\", public, ops), or set \
             `migration.tracking_table: ops.tb_confiture`"
                .to_string()
        )
    );
    // The session is still usable after the "undefined table" error.
    let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);

    let env = Environment::from_url(
        &format!("{}&options=-c%20search_path%3Dops", db.url()),
        "--database-url",
    )
    .unwrap();
    let mut client = confiture::db::connect(&env).unwrap();
    let read = ledger::read(&mut client, &TrackingTable::default())
        .unwrap()
        .unwrap();
    assert_eq!(read.table, "ops.tb_confiture");
    assert_eq!(read.rows.len(), 1);

    let qualified = TrackingTable::parse("ops.tb_confiture").unwrap();
    let mut client = connect(&db);
    let read = ledger::read(&mut client, &qualified).unwrap().unwrap();
    assert_eq!(read.table, "ops.tb_confiture");
}

/// A database of tenant schemas, each with its own ledger (`--schemas-query`), read as a whole
/// database: refused as above, but the ledgers are listed cut (1,000 tenants made a 70 kB
/// message) and the help says what they look like — tenants, to act on with `--schema` or
/// `--schemas-query` — instead of proposing one tenant's ledger as the database's.
#[test]
fn tenant_ledgers_off_the_search_path_are_listed_cut_and_named_as_tenants() {
    let db = TestDb::new("cft_ledger_tenants");
    let mut setup = db.client();
    let tenants = crate::display::MAX_LISTED + 5;
    for i in 1..=tenants {
        create_confiture_ledger(&mut setup, Some(&format!("s_{i:03}")));
    }
    let err = ledger::read(&mut connect(&db), &TrackingTable::default()).unwrap_err();
    assert_eq!(err.exit_code(), 5, "{err:?}");
    let listed: Vec<String> = (1..=crate::display::MAX_LISTED)
        .map(|i| format!("s_{i:03}.tb_confiture"))
        .collect();
    assert_eq!(
        err.message,
        format!(
            "the tracking table tb_confiture is not on this session's search_path \
             `\"$user\", public`: {tenants} schemas have a ledger of that name ({}, ... and 5 \
             more); nothing was read or written",
            listed.join(", ")
        )
    );
    let help = err.help.as_deref().unwrap();
    assert!(
        help.starts_with(
            "these look like the ledgers of tenant schemas: act on one tenant with `--schema \
             NAME` (`--schema s_001`), on each of them with `--schemas-query`"
        ),
        "{help}"
    );
    assert!(
        !help.contains("s_001.tb_confiture"),
        "no tenant's ledger as the database's: {help}"
    );
}

/// Under a `search_path` whose first schema is a system one (`pg_catalog, public`), no ledger
/// can be created where an unqualified name would go: where the ledger is
/// ([`ledger::resolve`], the fleet's and tenants' checks) was `pg_catalog.tb_confiture`, and
/// the help of tenants' ledgers off the path proposed `migration.tracking_table:
/// pg_catalog.tb_confiture` for the whole database, a name the configuration refuses. Both
/// ask the one rule of where a ledger is created (`qualified_name`'s): none there.
#[test]
fn a_system_schema_first_on_the_path_is_never_proposed_for_the_ledger() {
    let db = TestDb::new("cft_ledger_hh2");
    let mut setup = db.client();
    create_confiture_ledger(&mut setup, Some("tenant_a"));
    let mut client = connect(&db);
    let table = TrackingTable::default();
    for (path, expected) in [
        ("pg_catalog, public", None),
        ("pg_temp, public", None),
        ("''", None),
        ("public", Some("public.tb_confiture")),
        ("tenant_a, public", Some("tenant_a.tb_confiture")),
    ] {
        client
            .batch_execute(&format!("SET search_path = {path}"))
            .unwrap();
        let resolved = ledger::resolve(&mut client, &table).unwrap();
        assert_eq!(
            resolved.map(|t| t.to_string()).as_deref(),
            expected,
            "{path}"
        );
        assert_eq!(
            ledger::qualified_name(&mut client, &table).unwrap(),
            expected.map(str::to_string),
            "{path}"
        );
    }
    client
        .batch_execute("SET search_path = pg_catalog, public")
        .unwrap();
    let err = ledger::read(&mut client, &table).unwrap_err();
    let help = err.help.as_deref().unwrap_or_default();
    assert!(
        help.contains(
            "for the whole database to have a ledger of its own beside its tenants', set \
             `migration.tracking_table: SCHEMA.tb_confiture`"
        ),
        "{help}"
    );
    assert!(!help.contains("pg_catalog.tb_confiture"), "{help}");
}

#[test]
fn a_table_that_is_not_a_ledger_is_reported() {
    let db = TestDb::new("cft_ledger");
    db.client()
        .batch_execute("CREATE TABLE tb_confiture (id int)")
        .unwrap();
    let err = ledger::read(&mut connect(&db), &TrackingTable::default()).unwrap_err();
    assert_eq!(err.exit_code(), confiture::exit::INVALID, "{err}");
    assert!(
        err.message
            .contains("tb_confiture is not a confiture ledger"),
        "{err}"
    );
    assert_eq!(
        err.driver_error().and_then(|d| d.code()),
        Some(&postgres::error::SqlState::UNDEFINED_COLUMN),
        "the driver's error is the source: {err:?}"
    );
    // The server's message was in the message and in the source: said once, as the cause.
    common::assert_each_cause_said_once(&err);
    assert!(
        err.message_with_cause().contains("does not exist"),
        "{}",
        err.message_with_cause()
    );

    // Every column read is named, `pk_confiture` too (the order of application):
    // a table with all but it was told to have the ones it had.
    db.client()
        .batch_execute(
            "DROP TABLE tb_confiture; CREATE TABLE tb_confiture (version text, name text, \
             applied_at timestamptz, execution_time_ms int, checksum text, applied_by text)",
        )
        .unwrap();
    let err = ledger::read(&mut connect(&db), &TrackingTable::default()).unwrap_err();
    assert!(
        err.help
            .as_deref()
            .is_some_and(|h| h.contains("pk_confiture")),
        "{err:?}"
    );
}

/// A session that ended under the read (terminated backend, server restart) was told to check
/// its grants; every query of ours on a lost session now says what happened and what to do.
#[test]
fn a_lost_session_says_what_happened_and_what_to_do() {
    let db = TestDb::new("cft_ledger_lost");
    let mut client = connect(&db);
    create_confiture_ledger(&mut client, None);
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let mut admin = connect(&db);
    admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    // The first read meets the server's FATAL (or the closed socket), the second a client the
    // driver already knows is closed.
    for _ in 0..2 {
        let err = ledger::read(&mut client, &TrackingTable::default()).unwrap_err();
        assert_eq!(err.kind, confiture::ErrorKind::Connection, "{err:?}");
        let help = err.help.as_deref().unwrap_or_default();
        assert!(help.contains("the session ended"), "{help}");
        assert!(
            help.contains(&format!("run {}", confiture::hint::AGAIN)),
            "{help}"
        );
        assert!(!help.contains("GRANT"), "{help}");
        assert!(client.is_closed());
    }
}

/// A ledger the `search_path` puts in a schema whose name needs quoting is named as
/// PostgreSQL's `quote_ident` names it, wherever it is shown: before it exists, as created and
/// as read; and the engine addresses it in that schema, every part quoted for SQL.
#[test]
fn a_ledger_in_a_schema_that_needs_quoting_is_named_as_postgresql_quotes_it() {
    let db = TestDb::new("cft_ledger");
    let mut setup = db.client();
    setup
        .batch_execute(&format!(
            "CREATE SCHEMA \"Odd \"\"Name\"\"\";\n\
             ALTER DATABASE \"{}\" SET search_path = \"Odd \"\"Name\"\"\"",
            db.name
        ))
        .unwrap();
    let shown = "\"Odd \"\"Name\"\"\".tb_confiture";
    let mut client = connect(&db);
    let table = TrackingTable::default();
    assert_eq!(
        ledger::qualified_name(&mut client, &table)
            .unwrap()
            .as_deref(),
        Some(shown)
    );
    let created = super::create_ledger(&mut client, &table, None).unwrap();
    assert_eq!(created.to_string(), shown);
    assert_eq!(created.quoted(), "\"Odd \"\"Name\"\"\".\"tb_confiture\"");
    let found = ledger::read_qualified(&mut client, &table, ledger::DEFAULT_WAIT)
        .unwrap()
        .expect("the ledger exists");
    assert_eq!(found.ledger.table, shown);
    assert_eq!(found.table, created);
    // Configured names are shown the same way: as written only where SQL reads them so.
    for (written, shown) in [
        ("public.tb_confiture", "public.tb_confiture"),
        ("Ops.Ledger", "\"Ops\".\"Ledger\""),
        ("order", "\"order\""),
        ("_a1.b2", "_a1.b2"),
    ] {
        assert_eq!(TrackingTable::parse(written).unwrap().to_string(), shown);
    }
}

/// `ledger::quote_ident` quotes exactly the words the server's `quote_ident` quotes: every
/// keyword of the server, names with capitals, spaces, quotes, digits first, non-ASCII.
#[test]
fn quote_ident_agrees_with_the_server() {
    let db = TestDb::new("cft_ledger");
    let mut client = db.client();
    let mut words: Vec<String> = client
        .query("SELECT word FROM pg_catalog.pg_get_keywords()", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for odd in [
        "a",
        "_",
        "a1",
        "1a",
        "A",
        "aB",
        "a b",
        "a\"b",
        "a$b",
        "é",
        "tb_confiture",
        "",
        "a-b",
    ] {
        words.push(odd.to_string());
    }
    for word in words {
        let server: String = client
            .query_one("SELECT pg_catalog.quote_ident($1)", &[&word])
            .unwrap()
            .get(0);
        let ours = crate::ledger::quote_ident(&word);
        // Keywords newer than the server are quoted by us only: harmless, never the reverse.
        if crate::ledger::NEWER_KEYWORDS.contains(&word.as_str()) {
            continue;
        }
        assert_eq!(ours, server, "{word:?}");
    }
}

/// A role that may not create the tracking table was told to have a role that may "run the
/// first `migrate up`" — also on `migrate verify`'s or `drift`'s scratch database, where that
/// command would write the target. The help names the command replaying the migrations there.
#[test]
fn a_tracking_table_the_role_may_not_create_names_the_command_running() {
    let role_guard = Role::new("cft_ledger_creator");
    let role = role_guard.name();
    let db = TestDb::new("ledger_creator");
    let mut admin = connect(&db);
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             GRANT CREATE ON SCHEMA public TO \"{role}\"; CREATE SCHEMA ops; \
             GRANT USAGE ON SCHEMA ops TO \"{role}\""
        ))
        .unwrap();
    let env = role_guard.environment(&db);
    // The ledger in a schema of its own, the migrations free to build in public: the ledger
    // alone is all the role lacks (where the migrations build too, it is not offered:
    // `tests/it/server_faults.rs`).
    let table = TrackingTable::parse("ops.tb_confiture").unwrap();
    let ledger = TrackingTable::resolved("ops", "tb_confiture");
    let create_only = format!(
        "{} GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {};",
        ledger.create_sql().replace('\n', " "),
        ledger.quoted(),
        crate::ledger::quote_ident(role)
    );
    for (scratch, named) in [
        // h11 D6: not "run the first `migrate up`" as another role, which would own every
        // object the migrations make: the ledger alone, by its one DDL, and its grants.
        (None, create_only.as_str()),
        (
            Some("migrate verify"),
            "run `cargo confiture migrate verify`",
        ),
        (Some("migrate drift"), "run `cargo confiture migrate drift`"),
    ] {
        let mut client = confiture::db::connect(&env).expect("connects as the role");
        let e = super::create_ledger(&mut client, &table, scratch).unwrap_err();
        let help = e.help.clone().unwrap_or_default();
        assert!(help.contains(named), "{scratch:?}: {help}");
        if scratch.is_some() {
            assert!(!help.contains("migrate up"), "{scratch:?}: {help}");
        }
    }
    // The help's SQL, run by an admin, lets the role read and write its ledger.
    admin.batch_execute(&create_only).unwrap();
    let mut client = confiture::db::connect(&env).expect("connects as the role");
    let found =
        crate::db::ledger::read_qualified(&mut client, &table, std::time::Duration::from_secs(5))
            .unwrap()
            .expect("the ledger the admin made");
    found
        .access
        .check(&found.table, crate::db::ledger::Write::Insert)
        .unwrap();
}

/// An empty table of the ledger's name and shape earlier on the `search_path` (the `"$user"`
/// schema) hides the ledger with rows behind it: refused (exit 5), naming which hides which
/// and both ways out, for the reading commands and the writing ones — never "every migration
/// pending" (a script's cue to run `up`) nor an `up` that starts a second history there.
#[test]
fn an_empty_ledger_earlier_on_the_search_path_hiding_one_with_rows_is_refused() {
    let db = TestDb::new("cft_ledger_hidden");
    let mut setup = db.client();
    ledger_with(&mut setup, None, &[("001", "a"), ("002", "a")]);
    setup
        .batch_execute(
            "CREATE SCHEMA AUTHORIZATION CURRENT_USER; \
             CREATE TABLE postgres.tb_confiture (LIKE public.tb_confiture INCLUDING ALL)",
        )
        .unwrap();
    let mut client = connect(&db);
    for err in both_reads_refused(&mut client) {
        assert_eq!(
            err.message,
            "the tracking table tb_confiture is postgres.tb_confiture, which is empty, and it \
             hides public.tb_confiture (2 rows) later on the search_path `\"$user\", public`; \
             nothing was read or written"
        );
        assert_eq!(
            err.help.as_deref(),
            Some(
                "drop the empty one (DROP TABLE postgres.tb_confiture;), or set \
                 `migration.tracking_table: public.tb_confiture`"
            )
        );
    }
    // Qualified, the empty one is the one asked for: read as it is.
    let qualified = TrackingTable::parse("postgres.tb_confiture").unwrap();
    let read = ledger::read(&mut client, &qualified).unwrap().unwrap();
    assert!(read.rows.is_empty());
    // Once the ledger with rows is empty too, nothing is hidden.
    setup.batch_execute("TRUNCATE public.tb_confiture").unwrap();
    let read = ledger::read(&mut client, &TrackingTable::default())
        .unwrap()
        .unwrap();
    assert_eq!(read.table, "postgres.tb_confiture");
}

/// A table of the ledger's name that is no ledger earlier on the `search_path` (a migration's
/// `CREATE SCHEMA` named like the role, with a `tb_confiture` of its own) hides the ledger with
/// rows behind it: it was refused as "the tracking table tb_confiture is not a confiture
/// ledger", naming neither the table found nor the ledger it hides, with a help to "move this
/// table out of the way" that could be read as the ledger. Both are named now, as an empty one
/// hiding it is, and only the ledger read as it is without it.
#[test]
fn a_table_that_is_no_ledger_earlier_on_the_search_path_hiding_one_with_rows_is_named() {
    let db = TestDb::new("cft_ledger_hidden_other");
    let mut setup = db.client();
    ledger_with(&mut setup, None, &[("001", "a"), ("002", "a")]);
    setup
        .batch_execute(
            "CREATE SCHEMA AUTHORIZATION CURRENT_USER; \
             CREATE TABLE postgres.tb_confiture (id int)",
        )
        .unwrap();
    let mut client = connect(&db);
    for err in both_reads_refused(&mut client) {
        assert_eq!(
            err.message,
            "the tracking table tb_confiture is postgres.tb_confiture, which is not a confiture \
             ledger, and it hides public.tb_confiture (2 rows) later on the search_path \
             `\"$user\", public`; nothing was read or written"
        );
        assert_eq!(
            err.help.as_deref(),
            Some(
                "rename postgres.tb_confiture or move it off the search_path (it is not \
                 confiture's), or set `migration.tracking_table: public.tb_confiture`"
            )
        );
    }
    // Nothing hidden behind it: named as the server found it.
    setup
        .batch_execute("DROP TABLE public.tb_confiture")
        .unwrap();
    for err in both_reads_refused(&mut client) {
        assert_eq!(
            err.message,
            "the tracking table postgres.tb_confiture is not a confiture ledger"
        );
    }
}

/// A role without USAGE on the ledger's schema (`REVOKE USAGE ON SCHEMA public FROM PUBLIC`, a
/// read-only monitoring role) is told so, with the GRANT to paste — not that the schema is
/// off a search_path that names it, with an `ALTER DATABASE` that changes nothing. And on a
/// database without a ledger, the schema the ledger would be created in: USAGE and CREATE.
#[test]
fn a_role_without_usage_on_the_ledgers_schema_is_given_the_grant() {
    let role_guard = Role::new("cft_ledger_nousage");
    let role = role_guard.name();
    let quoted_role = crate::ledger::quote_ident(role);
    let db = TestDb::new("ledger_nousage");
    let mut admin = connect(&db);
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; REVOKE ALL ON SCHEMA public FROM PUBLIC"
        ))
        .unwrap();
    let env = role_guard.environment(&db);
    let table = TrackingTable::default();

    // No ledger yet: creating it needs USAGE and CREATE on public.
    let mut client = confiture::db::connect(&env).expect("connects as the role");
    let e = super::create_ledger(&mut client, &table, None).unwrap_err();
    let help = e.help.clone().unwrap_or_default();
    assert!(
        help.contains(&format!(
            "GRANT USAGE, CREATE ON SCHEMA public TO {quoted_role};"
        )),
        "{e:?}"
    );
    assert!(!help.contains("ALTER DATABASE"), "{help}");

    ledger_with(&mut admin, None, &[("001", "a")]);
    admin
        .batch_execute(&format!("GRANT SELECT ON tb_confiture TO \"{role}\""))
        .unwrap();
    let mut client = confiture::db::connect(&env).expect("connects as the role");
    let err = ledger::read(&mut client, &table).unwrap_err();
    assert_eq!(err.exit_code(), confiture::exit::INVALID, "{err:?}");
    assert_eq!(
        err.message,
        format!(
            "the tracking table tb_confiture is out of this session's reach: the ledger is \
             public.tb_confiture, and role {quoted_role} has no USAGE on schema public (the \
             search_path `\"$user\", public` skips a schema the role may not use); nothing was \
             read or written"
        )
    );
    let grant = format!("GRANT USAGE ON SCHEMA public TO {quoted_role};");
    assert_eq!(
        err.help,
        Some(format!(
            "grant role {quoted_role} USAGE on schema public: {grant}"
        ))
    );
    // The help's GRANT, run by an admin, is all the role lacked.
    admin.batch_execute(&grant).unwrap();
    let read = ledger::read(&mut client, &table).unwrap().unwrap();
    assert_eq!(read.rows.len(), 1);
}

/// A ledger whose text column was given another type (`version` made `bigint` by a migration's
/// dynamic SQL, or by hand) is refused when it is read (exit 5), naming the column and its
/// type, with the `ALTER TABLE` that gives it its type back — never read as a ledger whose
/// versions are spelled unlike their files, whose help sent to a `reinit` that cannot write
/// `'001'` into a `bigint`.
#[test]
fn a_ledger_column_of_another_type_is_refused_with_its_repair() {
    let db = TestDb::new("cft_ledger_types");
    let mut setup = db.client();
    ledger_with(&mut setup, None, &[("001", "first")]);
    setup
        .batch_execute(
            "ALTER TABLE tb_confiture ALTER COLUMN version TYPE bigint USING version::bigint",
        )
        .unwrap();
    let mut client = connect(&db);
    for err in both_reads_refused(&mut client) {
        assert_eq!(
            err.message,
            "the tracking table public.tb_confiture has column version of type bigint, not \
             the character varying(255) of confiture's ledger: confiture (Python) compares its \
             values as text; nothing was read or written"
        );
        let help = err.help.as_deref().unwrap_or_default();
        assert!(!help.contains("reinit"), "{help}");
        assert!(
            help.contains(
                "ALTER TABLE public.tb_confiture ALTER COLUMN version TYPE character \
                 varying(255) USING pg_catalog.lpad(CAST(version AS pg_catalog.text), WIDTH, \
                 '0');"
            ),
            "{help}"
        );
    }
    // The repair, with the width of the files' versions, gives the rows back as written.
    setup
        .batch_execute(
            "ALTER TABLE public.tb_confiture ALTER COLUMN version TYPE character varying(255) \
             USING pg_catalog.lpad(CAST(version AS pg_catalog.text), 3, '0')",
        )
        .unwrap();
    let read = ledger::read(&mut client, &TrackingTable::default())
        .unwrap()
        .unwrap();
    assert_eq!(read.rows[0].version, "001");
    // Any text type will do (a hand-made ledger's `text`, `char`): only a non-text one is
    // refused, whichever of the text columns.
    setup
        .batch_execute(
            "ALTER TABLE tb_confiture ALTER COLUMN version TYPE text; \
             ALTER TABLE tb_confiture ALTER COLUMN name TYPE char(20)",
        )
        .unwrap();
    ledger::read(&mut client, &TrackingTable::default())
        .unwrap()
        .unwrap();
    setup
        .batch_execute("ALTER TABLE tb_confiture ALTER COLUMN checksum TYPE bytea USING NULL")
        .unwrap();
    let err = ledger::read(&mut client, &TrackingTable::default()).unwrap_err();
    assert!(
        err.message.contains("has column checksum of type bytea"),
        "{err:?}"
    );
    assert!(
        err.help.as_deref().is_some_and(|h| h.contains(
            "ALTER COLUMN checksum TYPE character varying(64) USING \
             CAST(checksum AS pg_catalog.text);"
        )),
        "{err:?}"
    );
}

/// An `applied_at` edited to `infinity`, `-infinity` or a date before the Common Era is named
/// as what it is — not "no applied_at", and never a BC date shown as the AD one (`0044-03-15`
/// for 44 BC, in the text and in the JSON that claims RFC 3339): refused as a row with no
/// `applied_at` is (exit 5), with the same repair.
#[test]
fn an_applied_at_that_is_infinite_or_before_the_common_era_is_named_as_such() {
    let db = TestDb::new("cft_ledger_infinity");
    let mut setup = db.client();
    ledger_with(&mut setup, None, &[("001", "first"), ("002", "second")]);
    let mut client = connect(&db);
    let absent = {
        // NOT NULL in confiture's DDL: the help of a missing one is read from a ledger without it.
        setup
            .batch_execute(
                "ALTER TABLE tb_confiture ALTER COLUMN applied_at DROP NOT NULL; \
                 UPDATE tb_confiture SET applied_at = NULL WHERE version = '002'",
            )
            .unwrap();
        ledger::read(&mut client, &TrackingTable::default()).unwrap_err()
    };
    assert_eq!(
        absent.message,
        "the tracking table tb_confiture has a row with no applied_at (version 002)"
    );
    for (value, what) in [
        ("infinity", "whose applied_at is infinity"),
        ("-infinity", "whose applied_at is -infinity"),
        (
            "0044-03-15 12:00:00+00 BC",
            "whose applied_at is before the Common Era (0044-03-15 12:00:00 BC)",
        ),
    ] {
        setup
            .batch_execute(&format!(
                "UPDATE tb_confiture SET applied_at = '{value}' WHERE version = '002'"
            ))
            .unwrap();
        let err = ledger::read(&mut client, &TrackingTable::default()).unwrap_err();
        assert_eq!(err.exit_code(), confiture::exit::INVALID, "{err:?}");
        assert_eq!(
            err.message,
            format!("the tracking table tb_confiture has a row {what} (version 002)")
        );
        assert_eq!(err.help, absent.help, "{value}: the same repair");
    }
    // Year 1 is the Common Era's first: read as it is.
    setup
        .batch_execute(
            "UPDATE tb_confiture SET applied_at = '0001-01-01 00:00:00+00' WHERE version = '002'",
        )
        .unwrap();
    let read = ledger::read(&mut client, &TrackingTable::default())
        .unwrap()
        .unwrap();
    assert_eq!(read.rows[1].applied_at, "0001-01-01T00:00:00+00:00");
}

/// The help of a tracking table the role may not create offers running as the schema's owner
/// and says how: "the `role` setting" named nothing a user had set or the docs define (N29).
#[test]
fn running_as_the_schemas_owner_is_said_how() {
    let role_guard = Role::new("cft_ledger_owner_how");
    let role = role_guard.name();
    let db = TestDb::new("ledger_owner_how");
    connect(&db)
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC"
        ))
        .unwrap();
    let env = role_guard.environment(&db);
    let mut client = confiture::db::connect(&env).expect("connects as the role");
    let e = super::create_ledger(&mut client, &TrackingTable::default(), None).unwrap_err();
    let help = e.help.clone().unwrap_or_default();
    assert!(
        help.contains("run the migrations as the schema's owner"),
        "{help}"
    );
    assert!(
        help.contains("`options=-c%20role%3DNAME` in the URL"),
        "{help}"
    );
    assert!(!help.contains("or the `role` setting)"), "{help}");
}

/// The types the check before each ledger row takes without running its rule
/// (`ledger::COMMON_TEXT_TYPES`, by OID) are the string types they are meant to be, of the
/// category the rule accepts: a wrong OID there would let a column of another type through.
#[test]
fn the_ledger_checks_common_text_types_are_string_types() {
    let db = TestDb::new("cft_common_text_types");
    let mut client = db.client();
    let oids: Vec<i64> = ledger::COMMON_TEXT_TYPES
        .iter()
        .map(|&t| t.into())
        .collect();
    let rows = client
        .query(
            "SELECT t.oid::bigint, pg_catalog.format_type(t.oid, NULL), t.typcategory::text \
             FROM pg_catalog.pg_type t WHERE t.oid::bigint = ANY($1) ORDER BY t.oid",
            &[&oids],
        )
        .unwrap();
    let found: Vec<(i64, String, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        found,
        vec![
            (19, "name".to_string(), "S".to_string()),
            (25, "text".to_string(), "S".to_string()),
            (1042, "character".to_string(), "S".to_string()),
            (1043, "character varying".to_string(), "S".to_string()),
        ]
    );
}

/// The help of a ledger the role may not create named it unqualified (`or have a role that
/// may create tb_confiture run ...`), while the grant named its schema (hsm): a schema the
/// `search_path` gives, whose name needs quoting (`"My Schema"`, `"a""b"`), is named the way
/// the session resolves the ledger, schema-qualified and quoted, everywhere in the help.
#[test]
fn the_help_of_a_ledger_the_role_may_not_create_names_it_qualified_and_quoted() {
    let role_guard = Role::new("cft_ledger_nocreate_quoted");
    let role = role_guard.name();
    let quoted_role = crate::ledger::quote_ident(role);
    let db = TestDb::new("ledger_nocreate_quoted");
    let mut admin = connect(&db);
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             CREATE SCHEMA \"My Schema\"; CREATE SCHEMA \"a\"\"b\"; \
             GRANT USAGE ON SCHEMA \"My Schema\", \"a\"\"b\" TO \"{role}\""
        ))
        .unwrap();
    let env = role_guard.environment(&db);
    let table = TrackingTable::default();
    for schema in ["\"My Schema\"", "\"a\"\"b\""] {
        for scratch in [None, Some("migrate verify")] {
            let mut client = confiture::db::connect(&env).expect("connects as the role");
            client
                .batch_execute(&format!("SET search_path = {schema}"))
                .unwrap();
            let e = super::create_ledger(&mut client, &table, scratch).unwrap_err();
            let help = e.help.clone().unwrap_or_default();
            assert!(
                help.contains(&format!(
                    "grant role {quoted_role} CREATE on schema {schema}, where the migrations \
                     build too"
                )) && help.contains(&format!(
                    "GRANT CREATE ON SCHEMA {schema} TO {quoted_role};"
                )),
                "{e:?}"
            );
            if scratch.is_some() {
                assert!(
                    help.ends_with(&format!(
                        "or have a role that may create {schema}.tb_confiture run `cargo \
                         confiture migrate verify`"
                    )),
                    "{help}"
                );
            }
            assert!(!help.contains(" tb_confiture "), "{help}");
        }
    }
    // The search_path gives no schema to create it in (a system schema first): the help says
    // so, never a GRANT on `pg_catalog`.
    let mut client = confiture::db::connect(&env).expect("connects as the role");
    client
        .batch_execute("SET search_path = pg_catalog, \"My Schema\"")
        .unwrap();
    for scratch in [None, Some("migrate verify")] {
        let e = super::create_ledger(&mut client, &table, scratch).unwrap_err();
        let help = e.help.clone().unwrap_or_default();
        assert!(!help.contains("GRANT"), "{help}");
        assert!(help.contains("search_path"), "{help}");
        if let Some(grants) = ledger::grants(&mut client, &table) {
            panic!("grants of a ledger with nowhere to be created: {grants:?}");
        }
    }
}

/// The help of a ledger the role may not create, in a schema another role owns, joined its
/// ways out as two sentences, the second one lower-case ("...objects belong to the role that
/// created them. or have a role that may create ..."): each way out is one clause of the one
/// sentence, whether the help ends with the owner's or goes on to the role that may create the
/// ledger, or to the setting that switched the role.
#[test]
fn the_ways_out_of_a_ledger_the_role_may_not_create_are_one_sentence() {
    let role_guard = Role::new("cft_ledger_ways_out");
    let role = role_guard.name();
    let quoted_role = crate::ledger::quote_ident(role);
    let db = TestDb::new("ledger_ways_out");
    let mut admin = connect(&db);
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\" LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC; \
             CREATE SCHEMA app; GRANT USAGE ON SCHEMA app TO \"{role}\""
        ))
        .unwrap();
    let env = role_guard.environment(&db);
    let table = TrackingTable::default();
    let grant = format!(
        "grant role {quoted_role} CREATE on schema app, where the migrations build too (the \
         tracking table alone would not do: the first migration would fail next, for the same \
         missing privilege): GRANT CREATE ON SCHEMA app TO {quoted_role}; or run the migrations as the schema's owner, postgres, every one of \
         them ({}): objects belong to the role that created them",
        crate::db::ledger::ROLE_SETTING_HOW
    );
    for (scratch, tail) in [
        (None, ".".to_string()),
        (
            Some("migrate verify"),
            "; or have a role that may create app.tb_confiture run `cargo confiture migrate \
             verify`"
                .to_string(),
        ),
    ] {
        let mut client = confiture::db::connect(&env).expect("connects as the role");
        client.batch_execute("SET search_path = app").unwrap();
        let e = super::create_ledger(&mut client, &table, scratch).unwrap_err();
        assert_eq!(e.help.as_deref(), Some(format!("{grant}{tail}").as_str()));
    }
}

/// A ledger read the server refuses for a limit (SQLSTATE 53400: `temp_file_limit`, the read's
/// sort past the tool's own `work_mem` on a large ledger) names that limit and how to lift it,
/// as the session's own reads do (`db::limit_help`); its help said "fix what its message
/// names". The server's own refusal, raised with that SQLSTATE: a ledger large enough to
/// spill a few megabytes is what the CLI's `temp_file_limit` tests cannot build cheaply.
#[test]
fn a_ledger_read_refused_by_a_limit_names_temp_file_limit() {
    let db = TestDb::new("cft_ledger_limit");
    let mut client = connect(&db);
    let refused = client
        .batch_execute(
            "DO $$ BEGIN RAISE EXCEPTION 'temporary file size exceeds temp_file_limit (0kB)' \
             USING ERRCODE = 'configuration_limit_exceeded'; END $$",
        )
        .unwrap_err();
    let err = crate::db::ledger::read_error(&mut client, &TrackingTable::default(), refused, None);
    assert_eq!(err.exit_code(), confiture::exit::INVALID, "{err:?}");
    assert_eq!(err.sqlstate(), Some("53400"), "{err:?}");
    let help = err.help.as_deref().unwrap_or_default();
    assert!(help.contains("`temp_file_limit`"), "{help}");
    assert!(
        help.contains("ALTER DATABASE name RESET temp_file_limit"),
        "{help}"
    );
    assert!(!help.contains("fix what its message names"), "{help}");
}

/// hbd4: where a missing ledger would be created (`ledger::qualified_name`, `status`'s look-up
/// after its ledger read found none) is asked with `current_schema()`, which a session that has
/// not looked it up yet finds in `pg_proc` and whose `search_path` it resolves in
/// `pg_namespace`: behind another session's lock on either, it waited as long as that lock
/// lasted, with none of the command's bounds. Within the command's lock wait
/// (`ledger::CatalogBound`), it now ends there, exit 6 naming the catalog's holder.
#[test]
fn where_a_missing_ledger_would_be_created_is_asked_within_the_commands_lock_wait() {
    for catalog in ["pg_proc", "pg_namespace"] {
        let db = TestDb::new("hbd4_where");
        let env = db.environment();
        let mut client = connect(&db);
        let (mut holder, pid) =
            db.holding_lock("hbd4_where_holder", &format!("pg_catalog.{catalog}"));
        // The lock lasts 8 s: a read that waits for it ends then, and the test with it.
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(8));
            holder.batch_execute("ROLLBACK").unwrap();
        });
        let started = std::time::Instant::now();
        let bound = ledger::CatalogBound::new(std::time::Duration::from_secs(1), None, Some(&env));
        let asked = ledger::qualified_name_within(&mut client, &TrackingTable::default(), bound);
        let took = started.elapsed();
        release.join().unwrap();
        let error = asked.expect_err(&format!("{catalog}: answered after {took:?}"));
        assert_eq!(
            error.exit_code(),
            confiture::exit::LOCK_TIMEOUT,
            "{catalog}: {error:?}"
        );
        assert!(
            took < std::time::Duration::from_secs(5),
            "{catalog}: took {took:?}"
        );
        let text = format!("{error:?}");
        assert!(
            text.contains(&format!("pid {pid}")) && text.contains(catalog),
            "{catalog}: {text}"
        );
    }
}
