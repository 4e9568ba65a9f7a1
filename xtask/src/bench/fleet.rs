//! The fleet workloads: the same few migrations on many databases, and on many tenant schemas
//! of one database.
//!
//! - `fleet-dbs`: `--fleet-dbs` databases (default 200) × 5 migrations. cargo-confiture's
//!   fleet (`migrate up --targets FILE --jobs 8`) against a shell loop running our CLI once
//!   per database, and the same loop with sqlx-cli when installed; the floor is the server's
//!   own work per database (backend start, ledger DDL, the five transactions as one message)
//!   sent by as many clients as the fleet has jobs.
//! - `fleet-schemas`: `--fleet-schemas` tenant schemas (default 1,000) of one database × 5
//!   migrations, `migrate up --schemas-query ... --jobs 8`, against the floor of the same
//!   transactions (and ledger DDL) sent by one client, one message per tenant.
//!
//! The databases and schemas are created once, untimed; between runs every tool's tables are
//! dropped (untimed), and each run is checked from the catalogs before it counts.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::measure::{self, Job, Stats};
use super::pg::{self, Db};
use super::report::Verdict;
use super::tools::{self, Action, Tool};
use super::workload::{self, Migration};
use super::{Bench, Row, Section};

/// Targets at once, for the fleet and its floor.
pub const JOBS: usize = 8;
/// Migrations per database or tenant.
const MIGRATIONS: u32 = 5;

const FLOOR_DBS: &str = "floor (server's work, 8 clients)";
const FLEET_DBS: &str = "cargo-confiture --jobs 8";
const LOOP_OURS: &str = "loop: cargo-confiture";
const LOOP_SQLX: &str = "loop: sqlx-cli";
const FLOOR_SCHEMAS: &str = "floor (same transactions, 1 client)";
const FLEET_SCHEMAS: &str = "cargo-confiture --schemas-query --jobs 8";

/// The schemas `fleet-schemas` creates and its query selects.
const TENANT_QUERY: &str =
    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY nspname";

fn tenant(i: usize) -> String {
    format!("tenant_{i:04}")
}

/// Runs `f` for every database, `jobs` at a time; the first error wins.
fn each_db(
    dbs: &[Db],
    jobs: usize,
    f: impl Fn(&Db) -> Result<(), String> + Sync,
) -> Result<(), String> {
    let next = AtomicUsize::new(0);
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(db) = dbs.get(i) else {
                        return Ok(());
                    };
                    f(db)?;
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("a worker panicked".into())))
            .collect()
    });
    results.into_iter().collect()
}

/// Drops the databases (each `Db` drops its own) a few threads at once.
fn drop_all(dbs: Vec<Db>) {
    let mut chunks: Vec<Vec<Db>> = (0..JOBS).map(|_| Vec::new()).collect();
    for (i, db) in dbs.into_iter().enumerate() {
        chunks[i % JOBS].push(db);
    }
    std::thread::scope(|scope| {
        for chunk in chunks {
            scope.spawn(move || drop(chunk));
        }
    });
}

fn loop_command(program: &Path, root: &Path, list: &Path, per_db: &str) -> Command {
    // A plain shell loop, as a user would write it: one process per database, in turn.
    let script = format!(
        "while read -r db; do {per_db} || exit 1; done < '{}'",
        list.display()
    );
    let mut c = Command::new("sh");
    c.current_dir(root)
        .arg("-c")
        .arg(script)
        .env("PROGRAM", program)
        .env_remove("DATABASE_URL")
        .env_remove("CONFITURE_DATABASE_URL")
        .env("NO_COLOR", "1");
    c
}

fn record(
    key: &str,
    run: usize,
    runs: usize,
    tool: &str,
    outcome: Result<Duration, String>,
    samples: &mut Vec<(String, f64)>,
    notes: &mut Vec<(String, String)>,
) {
    match outcome {
        Ok(elapsed) => {
            let ms = elapsed.as_secs_f64() * 1000.0;
            eprintln!(
                "  {key:<14} run {}/{runs}  {tool:<40} {ms:>10.1} ms",
                run + 1
            );
            samples.push((tool.to_string(), ms));
        }
        Err(e) => {
            eprintln!("  {key:<14} {tool}: FAILED: {e}");
            notes.push((tool.to_string(), "failed (see stderr above)".to_string()));
        }
    }
}

fn section(
    key: &str,
    title: String,
    base: &str,
    tools: &[&str],
    samples: &[(String, f64)],
    notes: &[(String, String)],
) -> Section {
    let mut section = Section::new(key, title, None);
    section.base = Some(base.to_string());
    for &tool in tools {
        let values: Vec<f64> = samples
            .iter()
            .filter(|(t, _)| t == tool)
            .map(|(_, v)| *v)
            .collect();
        section.rows.push(Row {
            tool: tool.to_string(),
            stats: Stats::of(&values),
            note: notes
                .iter()
                .find(|(t, _)| t == tool)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
        });
    }
    section
}

/// What the runs of `fleet-dbs` share.
struct DbFleet<'a> {
    dbs: &'a [Db],
    /// The database names, one a line: `--targets` and the loops read it.
    list: &'a Path,
    /// The floor's message for one database: the ledger DDL and the transactions.
    floor: String,
    ours: &'a tools::Layout,
    sqlx: Option<&'a tools::Layout>,
    /// A database's URL in the loops, `$db` the name the loop read.
    per_db_url: String,
}

/// Drops every tool's tables from the databases (untimed, between runs).
fn reset_dbs(dbs: &[Db]) -> Result<(), String> {
    each_db(dbs, JOBS, |db| {
        db.client()?
            .batch_execute(
                "DROP TABLE IF EXISTS bench_rows, tb_confiture, _sqlx_migrations CASCADE",
            )
            .map_err(|e| format!("reset {}: {e}", db.name))
    })
}

/// Checks that every database has the workload's rows.
fn check_dbs(dbs: &[Db]) -> Result<(), String> {
    let (check, expected) = workload::one_row_check(MIGRATIONS);
    each_db(dbs, JOBS, |db| {
        let found = db.count(&check)?;
        if found == expected {
            Ok(())
        } else {
            Err(format!("{}: {found} rows, not {expected}", db.name))
        }
    })
}

impl Bench {
    /// `fleet-dbs`: see the module docs.
    pub(super) fn fleet_dbs(&self, count: usize) -> Result<Section, String> {
        let o = &self.options;
        let key = "fleet-dbs";
        let migrations = workload::one_row(MIGRATIONS);
        let dir = self.work.join(key);
        let ours = tools::write_layout(Tool::Confiture, &dir.join("confiture"), &migrations)?;
        let sqlx = match self.installed.has(Tool::Sqlx) {
            true => Some(tools::write_layout(
                Tool::Sqlx,
                &dir.join("sqlx"),
                &migrations,
            )?),
            false => None,
        };
        eprintln!("  {key}: creating {count} databases (untimed)...");
        let dbs: Vec<Db> = (0..count)
            .map(|_| o.server.fresh_db())
            .collect::<Result<_, _>>()?;
        let list = dir.join("targets.txt");
        let names: String = dbs.iter().map(|db| format!("{}\n", db.name)).collect();
        std::fs::write(&list, names).map_err(|e| format!("{}: {e}", list.display()))?;
        let server = &o.server;
        let fleet = DbFleet {
            dbs: &dbs,
            list: &list,
            floor: format!("{}{}", pg::LEDGER_DDL, pg::floor_message(&migrations)),
            ours: &ours,
            sqlx: sqlx.as_ref(),
            per_db_url: format!(
                "postgresql://{}@{}:{}/$db?sslmode=disable",
                server.user, server.host, server.port
            ),
        };
        let mut tools_run = vec![FLOOR_DBS, FLEET_DBS, LOOP_OURS];
        if sqlx.is_some() {
            tools_run.push(LOOP_SQLX);
        }
        let (mut samples, mut notes) = (Vec::new(), Vec::new());
        for run in 0..o.runs {
            for &tool in &tools_run {
                if notes.iter().any(|(t, _)| t == tool) {
                    continue;
                }
                reset_dbs(&dbs)?;
                let label = format!("{key}-{}-run{run}", tool.replace([' ', ':', '-'], "_"));
                let outcome = self
                    .fleet_dbs_once(tool, &fleet, &label)
                    .and_then(|elapsed| check_dbs(&dbs).map(|()| elapsed));
                record(key, run, o.runs, tool, outcome, &mut samples, &mut notes);
            }
        }
        // Each `DROP DATABASE` waits for a checkpoint: a few at once share them.
        eprintln!("  {key}: dropping the {count} databases (untimed)...");
        drop_all(dbs);
        Ok(section(
            key,
            format!("fleet: {count} databases × {MIGRATIONS} migrations (one-row), 8 at a time"),
            FLOOR_DBS,
            &tools_run,
            &samples,
            &notes,
        ))
    }

    /// One timed run of `tool` over the fleet of databases.
    fn fleet_dbs_once(&self, tool: &str, fleet: &DbFleet, label: &str) -> Result<Duration, String> {
        let server = &self.options.server;
        match tool {
            FLOOR_DBS => {
                let start = Instant::now();
                each_db(fleet.dbs, JOBS, |db| {
                    db.client()?
                        .batch_execute(&fleet.floor)
                        .map_err(|e| format!("floor on {}: {e}", db.name))
                })
                .map(|()| start.elapsed())
            }
            FLEET_DBS => {
                let url = format!(
                    "postgresql://{}@{}:{}/postgres?sslmode=disable",
                    server.user, server.host, server.port
                );
                let target = tools::Target {
                    url: &url,
                    host: &server.host,
                    port: server.port,
                    user: &server.user,
                    dbname: "postgres",
                };
                let mut command = tools::invocation(
                    &self.installed,
                    Tool::Confiture,
                    fleet.ours,
                    &target,
                    Action::Apply,
                )?
                .ok_or("no command for cargo-confiture")?;
                command
                    .arg("--targets")
                    .arg(fleet.list)
                    .args(["--jobs", &JOBS.to_string()]);
                self.timed(command, &fleet.ours.root, label)
            }
            LOOP_OURS => {
                let per_db = format!(
                    "\"$PROGRAM\" confiture migrate up --database-url \"{}\" >/dev/null",
                    fleet.per_db_url
                );
                let command = loop_command(
                    &self.installed.confiture,
                    &fleet.ours.root,
                    fleet.list,
                    &per_db,
                );
                self.timed(command, &fleet.ours.root, label)
            }
            _ => {
                let layout = fleet.sqlx.ok_or("sqlx-cli is not installed")?;
                let program = self
                    .installed
                    .peers
                    .iter()
                    .find(|(t, _)| *t == Tool::Sqlx)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default();
                let per_db = format!(
                    "\"$PROGRAM\" migrate run --no-dotenv --source '{}' --database-url \"{}\" >/dev/null",
                    layout.path.display(),
                    fleet.per_db_url
                );
                let command = loop_command(&program, &layout.root, fleet.list, &per_db);
                self.timed(command, &layout.root, label)
            }
        }
    }

    /// `fleet-schemas`: see the module docs.
    pub(super) fn fleet_schemas(&self, count: usize) -> Result<Section, String> {
        let o = &self.options;
        let key = "fleet-schemas";
        let migrations = workload::one_row(MIGRATIONS);
        let dir = self.work.join(key);
        let ours = tools::write_layout(Tool::Confiture, &dir.join("confiture"), &migrations)?;
        let db = o.server.fresh_db()?;
        let batches = reset_batches(count);
        let floors: Vec<String> = (0..count)
            .map(|i| floor_for_tenant(&tenant(i), &migrations))
            .collect();
        let url = db.url(o.server.port);
        let tools_run = [FLOOR_SCHEMAS, FLEET_SCHEMAS];
        let (mut samples, mut notes) = (Vec::new(), Vec::new());
        for run in 0..o.runs {
            for tool in tools_run {
                if notes.iter().any(|(t, _)| t == tool) {
                    continue;
                }
                reset_schemas(&db, &batches)?;
                let label = format!("{key}-{}-run{run}", tool.replace([' ', ':', '-'], "_"));
                let outcome = if tool == FLOOR_SCHEMAS {
                    floor_schemas(&db, &floors)
                } else {
                    let target = tools::Target {
                        url: &url,
                        host: &o.server.host,
                        port: o.server.port,
                        user: &o.server.user,
                        dbname: &db.name,
                    };
                    let mut command = tools::invocation(
                        &self.installed,
                        Tool::Confiture,
                        &ours,
                        &target,
                        Action::Apply,
                    )?
                    .ok_or("no command for cargo-confiture")?;
                    command
                        .args(["--schemas-query", TENANT_QUERY])
                        .args(["--jobs", &JOBS.to_string()]);
                    self.timed(command, &ours.root, &label)
                }
                .and_then(|elapsed| check_schemas(&db, count).map(|()| elapsed));
                record(key, run, o.runs, tool, outcome, &mut samples, &mut notes);
            }
        }
        Ok(section(
            key,
            format!(
                "fleet: {count} tenant schemas of one database × {MIGRATIONS} migrations (one-row)"
            ),
            FLOOR_SCHEMAS,
            &tools_run,
            &samples,
            &notes,
        ))
    }

    fn timed(&self, command: Command, root: &Path, label: &str) -> Result<Duration, String> {
        measure::time_process(
            Job {
                command,
                log_dir: root,
                label,
                ok_codes: &[0],
            },
            self.options.timeout,
        )
    }
}

/// The messages that drop and create the tenant schemas between runs: a few schemas a
/// message, as one message is one transaction and dropping a thousand schemas at once needs
/// more locks than `max_locks_per_transaction` allows.
fn reset_batches(count: usize) -> Vec<String> {
    (0..count)
        .collect::<Vec<_>>()
        .chunks(20)
        .map(|chunk| {
            chunk
                .iter()
                .map(|&i| {
                    let t = tenant(i);
                    format!("DROP SCHEMA IF EXISTS {t} CASCADE; CREATE SCHEMA {t};\n")
                })
                .collect()
        })
        .collect()
}

fn reset_schemas(db: &Db, batches: &[String]) -> Result<(), String> {
    let mut client = db.client()?;
    for batch in batches {
        client.batch_execute(batch).map_err(|e| {
            let why = e
                .as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string());
            format!("reset the tenant schemas: {why}")
        })?;
    }
    Ok(())
}

/// Checks from the catalogs that every tenant has the workload's rows and `public` nothing.
fn check_schemas(db: &Db, count: usize) -> Result<(), String> {
    let check = "SELECT sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.bench_rows', nspname), false, true, '')))[1]::text::bigint) \
                 FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'";
    let expected = workload::one_row_check(MIGRATIONS).1 * count as u64;
    let public = "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'";
    let found = db.count(check)?;
    let in_public = db.count(public)?;
    if found != expected || in_public != 0 {
        return Err(format!(
            "{found} rows in the tenants (not {expected}), {in_public} relations in public"
        ));
    }
    Ok(())
}

/// One tenant's work as one message: its `search_path`, the ledger DDL, the transactions.
fn floor_for_tenant(schema: &str, migrations: &[Migration]) -> String {
    format!(
        "SET search_path = \"{schema}\";\n{}{}",
        pg::LEDGER_DDL,
        pg::floor_message(migrations)
    )
}

/// The floor of `fleet-schemas`: one client sends every tenant's message in turn.
fn floor_schemas(db: &Db, floors: &[String]) -> Result<Duration, String> {
    let start = Instant::now();
    let mut client = db.client()?;
    for message in floors {
        client
            .batch_execute(message)
            .map_err(|e| format!("floor: {e}"))?;
    }
    Ok(start.elapsed())
}

/// The fleet targets, met or missed.
pub(super) fn verdicts(results: &super::Results) -> Vec<Verdict> {
    let median = |key: &str, tool: &str| results.get(key).and_then(|s| s.median(tool));
    let ours = median("fleet-dbs", FLEET_DBS);
    let faster = |than: &str| Some(median("fleet-dbs", than)? / ours?);
    let schemas =
        || Some(median("fleet-schemas", FLEET_SCHEMAS)? / median("fleet-schemas", FLOOR_SCHEMAS)?);
    vec![
        Verdict {
            target: "fleet of databases --jobs 8 ≥ 3× faster than a loop of our CLI",
            outcome: faster(LOOP_OURS).map(|x| (x >= 3.0, format!("{x:.1}×"))),
        },
        Verdict {
            target: "fleet of databases --jobs 8 ≥ 6× faster than a loop of sqlx-cli",
            outcome: faster(LOOP_SQLX).map(|x| (x >= 6.0, format!("{x:.1}×"))),
        },
        Verdict {
            target: "1,000 tenant schemas ≤ 3× the floor of one client",
            outcome: schemas().map(|r| (r <= 3.0, format!("{r:.2}×"))),
        },
    ]
}
