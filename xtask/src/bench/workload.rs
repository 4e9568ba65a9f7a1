//! The migrations each workload applies, and the same migrations written in each tool's layout.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::pg;

/// One migration, tool-neutral.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: u32,
    /// Zero-padded to the width of the largest version, as a project would number them.
    pub version_text: String,
    pub name: String,
    pub up: String,
    pub down: String,
}

fn numbered(count: u32, body: impl Fn(u32) -> (String, String, String)) -> Vec<Migration> {
    let width = count.to_string().len().max(3);
    (1..=count)
        .map(|v| {
            let (name, up, down) = body(v);
            Migration {
                version: v,
                version_text: format!("{v:0width$}"),
                name,
                up,
                down,
            }
        })
        .collect()
}

/// Workload 1: the first migration creates a table, every other one inserts one row into it.
pub fn one_row(count: u32) -> Vec<Migration> {
    numbered(count, |v| {
        if v == 1 {
            (
                "create_bench_rows".to_string(),
                "CREATE TABLE bench_rows (id integer PRIMARY KEY, note text);\n".to_string(),
                "DROP TABLE bench_rows;\n".to_string(),
            )
        } else {
            (
                format!("row_{v}"),
                format!("INSERT INTO bench_rows (id, note) VALUES ({v}, 'row {v}');\n"),
                format!("DELETE FROM bench_rows WHERE id = {v};\n"),
            )
        }
    })
}

/// Rows `one_row(count)` leaves in `bench_rows`.
pub fn one_row_check(count: u32) -> (String, u64) {
    (
        "SELECT count(*) FROM bench_rows".to_string(),
        u64::from(count.saturating_sub(1)),
    )
}

/// Workload 2: one `CREATE TABLE` (with a primary key, a unique column and an index) each —
/// server-side work dominates, so every tool should approach the floor.
pub fn create_table(count: u32) -> Vec<Migration> {
    numbered(count, |v| {
        (
            format!("create_tb_thing_{v}"),
            format!(
                "CREATE TABLE tb_thing_{v} (\n    \
                 pk_thing integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
                 identifier text UNIQUE NOT NULL,\n    \
                 payload jsonb NOT NULL DEFAULT '{{}}',\n    \
                 created_at timestamptz DEFAULT now()\n);\n\
                 CREATE INDEX idx_tb_thing_{v}_created_at ON tb_thing_{v} (created_at);\n"
            ),
            format!("DROP TABLE tb_thing_{v};\n"),
        )
    })
}

pub fn create_table_check(count: u32) -> (String, u64) {
    (
        "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'tb\\_thing\\_%'".to_string(),
        u64::from(count),
    )
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn mkdir(path: &Path) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// cargo-confiture and confiture (Python): `db/migrations/NNN_name.up.sql` + `.down.sql`.
pub fn write_confiture(root: &Path, migrations: &[Migration]) -> Result<PathBuf, String> {
    write_pairs(&root.join("db/migrations"), migrations, |m| {
        m.version_text.clone()
    })
}

/// sqlx-cli: reversible migrations `migrations/<version>_<name>.up.sql` + `.down.sql`.
pub fn write_sqlx(root: &Path, migrations: &[Migration]) -> Result<PathBuf, String> {
    write_pairs(&root.join("migrations"), migrations, |m| {
        m.version.to_string()
    })
}

/// The layout of a pair of files a migration: `<dir>/<version>_<name>.up.sql` and
/// `.down.sql`, the version spelled by `version` (zero-padded or not).
fn write_pairs(
    dir: &Path,
    migrations: &[Migration],
    version: impl Fn(&Migration) -> String,
) -> Result<PathBuf, String> {
    mkdir(dir)?;
    for m in migrations {
        let stem = format!("{}_{}", version(m), m.name);
        write(&dir.join(format!("{stem}.up.sql")), &m.up)?;
        write(&dir.join(format!("{stem}.down.sql")), &m.down)?;
    }
    Ok(dir.to_path_buf())
}

/// refinery: `migrations/V<n>__<name>.sql` (up only: refinery has no down migrations).
pub fn write_refinery(root: &Path, migrations: &[Migration]) -> Result<PathBuf, String> {
    let dir = root.join("migrations");
    mkdir(&dir)?;
    for m in migrations {
        write(&dir.join(format!("V{}__{}.sql", m.version, m.name)), &m.up)?;
    }
    Ok(dir)
}

/// dbmate: `db/migrations/<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down`.
pub fn write_dbmate(root: &Path, migrations: &[Migration]) -> Result<PathBuf, String> {
    let dir = root.join("db/migrations");
    mkdir(&dir)?;
    for m in migrations {
        let text = format!("-- migrate:up\n{}\n-- migrate:down\n{}\n", m.up, m.down);
        write(
            &dir.join(format!("{}_{}.sql", m.version_text, m.name)),
            &text,
        )?;
    }
    Ok(dir)
}

/// `psql -f`: the script a person would write — one transaction per migration with the same
/// ledger row as the floor, default (synchronous) commits, each statement its own round trip
/// (psql sends statements one by one).
pub fn write_psql_script(root: &Path, migrations: &[Migration]) -> Result<PathBuf, String> {
    mkdir(root)?;
    let mut sql = String::new();
    for m in migrations {
        let _ = writeln!(sql, "BEGIN;\n{}\n{}\nCOMMIT;", m.up, pg::ledger_insert(m));
    }
    let path = root.join("apply.sql");
    write(&path, &sql)?;
    Ok(path)
}

/// confiture (Python)'s environment file for database `url`.
pub fn write_python_env(root: &Path, name: &str, url: &str) -> Result<PathBuf, String> {
    let dir = root.join("db/environments");
    mkdir(&dir)?;
    let path = dir.join(format!("{name}.yaml"));
    write(
        &path,
        &format!("name: {name}\ndatabase_url: {url}\ninclude_dirs: []\n"),
    )?;
    Ok(path)
}
