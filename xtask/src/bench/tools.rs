//! The tools under comparison: how each is found, lays out migrations, applies them and shows
//! their status. Every tool runs as a whole process (start, connect, read files, work, exit),
//! except the floor, which is the work itself sent by a minimal client.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::peers::is_executable;
use super::workload::{self, Migration};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    Floor,
    Confiture,
    Psql,
    Sqlx,
    Refinery,
    Dbmate,
    Python,
}

pub const ALL: [Tool; 7] = [
    Tool::Floor,
    Tool::Confiture,
    Tool::Psql,
    Tool::Sqlx,
    Tool::Refinery,
    Tool::Dbmate,
    Tool::Python,
];

pub const PEERS: [Tool; 4] = [Tool::Sqlx, Tool::Refinery, Tool::Dbmate, Tool::Python];

impl Tool {
    /// The name `--tools` takes.
    pub fn key(self) -> &'static str {
        match self {
            Tool::Floor => "floor",
            Tool::Confiture => "confiture",
            Tool::Psql => "psql",
            Tool::Sqlx => "sqlx",
            Tool::Refinery => "refinery",
            Tool::Dbmate => "dbmate",
            Tool::Python => "python",
        }
    }

    pub fn is_peer(self) -> bool {
        PEERS.contains(&self)
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Tool::Floor => "floor (one message)",
            Tool::Confiture => "cargo confiture",
            Tool::Psql => "psql -f",
            Tool::Sqlx => "sqlx-cli",
            Tool::Refinery => "refinery_cli",
            Tool::Dbmate => "dbmate",
            Tool::Python => "confiture (Python)",
        })
    }
}

/// Where each installed tool's executable is.
pub struct Installed {
    pub confiture: PathBuf,
    pub psql: Option<PathBuf>,
    pub peers: Vec<(Tool, PathBuf)>,
    /// Tools not found, with where they were looked for.
    pub missing: Vec<(Tool, String)>,
}

impl Installed {
    /// `peers_dir` is where `cargo xtask peers` installs (`target/peers`).
    pub fn discover(confiture: PathBuf, peers_dir: &Path) -> Installed {
        let mut peers = Vec::new();
        let mut missing = Vec::new();
        for peer in &super::peers::PEERS {
            let paths = peer.executables(peers_dir);
            match paths.iter().find(|p| is_executable(p)) {
                Some(path) => peers.push((peer.tool, path.clone())),
                None => missing.push((peer.tool, paths[0].display().to_string())),
            }
        }
        let psql = which("psql");
        if psql.is_none() {
            missing.push((Tool::Psql, "PATH".to_string()));
        }
        Installed {
            confiture,
            psql,
            peers,
            missing,
        }
    }

    pub fn has(&self, tool: Tool) -> bool {
        match tool {
            Tool::Floor | Tool::Confiture => true,
            Tool::Psql => self.psql.is_some(),
            _ => self.peers.iter().any(|(t, _)| *t == tool),
        }
    }

    fn path(&self, tool: Tool) -> PathBuf {
        match tool {
            Tool::Confiture => self.confiture.clone(),
            Tool::Psql => self.psql.clone().unwrap_or_else(|| "psql".into()),
            _ => self
                .peers
                .iter()
                .find(|(t, _)| *t == tool)
                .map(|(_, p)| p.clone())
                .unwrap_or_default(),
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

/// A tool's copy of a workload's migrations, in its own layout under `root`.
pub struct Layout {
    pub root: PathBuf,
    /// The migrations directory, or the `psql -f` script.
    pub path: PathBuf,
}

pub fn write_layout(tool: Tool, root: &Path, migrations: &[Migration]) -> Result<Layout, String> {
    let path = match tool {
        Tool::Floor => root.to_path_buf(),
        Tool::Confiture | Tool::Python => workload::write_confiture(root, migrations)?,
        Tool::Psql => workload::write_psql_script(root, migrations)?,
        Tool::Sqlx => workload::write_sqlx(root, migrations)?,
        Tool::Refinery => workload::write_refinery(root, migrations)?,
        Tool::Dbmate => workload::write_dbmate(root, migrations)?,
    };
    Ok(Layout {
        root: root.to_path_buf(),
        path,
    })
}

/// The connection a command gets: a URL, and its parts for psql.
pub struct Target<'a> {
    pub url: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub dbname: &'a str,
}

/// A command with a clean environment for database settings: nothing inherited may point a
/// tool at another database.
fn command(program: &Path, layout: &Layout) -> Command {
    let mut c = Command::new(program);
    c.current_dir(&layout.root);
    for var in [
        "DATABASE_URL",
        "CONFITURE_DATABASE_URL",
        "CONFITURE_ENV",
        "PGDATABASE",
        "PGHOST",
        "PGPORT",
        "PGSERVICE",
    ] {
        c.env_remove(var);
    }
    c.env("NO_COLOR", "1");
    c
}

/// What a tool is run for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Apply every pending migration.
    Apply,
    /// Show which migrations are applied.
    Status,
}

/// The command that runs `tool` for `action` on `target`; `None` where the tool has no such
/// command (the floor, in-process; refinery's status). The one place that says how each tool
/// is pointed at the target and its migrations: its two commands differ only in the verb.
pub fn invocation(
    installed: &Installed,
    tool: Tool,
    layout: &Layout,
    target: &Target<'_>,
    action: Action,
) -> Result<Option<Command>, String> {
    let program = installed.path(tool);
    let mut c = command(&program, layout);
    // The verb each tool takes for `action`: (apply, status).
    let verb = |verbs: (&'static str, &'static str)| match action {
        Action::Apply => verbs.0,
        Action::Status => verbs.1,
    };
    match (tool, action) {
        (Tool::Floor, _) | (Tool::Refinery, Action::Status) => return Ok(None),
        (Tool::Confiture, _) => {
            let verb = verb(("up", "status"));
            c.args(["confiture", "migrate", verb, "--database-url", target.url]);
        }
        (Tool::Psql, Action::Apply) => {
            psql_connection(&mut c, target);
            c.args(["-v", "ON_ERROR_STOP=1", "-f"]).arg(&layout.path);
        }
        (Tool::Psql, Action::Status) => {
            // The rows `cargo confiture migrate status` reads, as one `psql -c` process.
            psql_connection(&mut c, target);
            c.args([
                "-A",
                "-t",
                "-c",
                "SELECT version, name, to_char(applied_at AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"'), execution_time_ms, checksum, applied_by \
                 FROM tb_confiture ORDER BY applied_at, pk_confiture",
            ]);
        }
        (Tool::Sqlx, _) => {
            c.args(["migrate", verb(("run", "info")), "--no-dotenv", "--source"])
                .arg(&layout.path)
                .args(["--database-url", target.url]);
        }
        (Tool::Refinery, Action::Apply) => {
            c.args(["migrate", "-e", "DATABASE_URL", "-p"])
                .arg(&layout.path)
                .env("DATABASE_URL", target.url);
        }
        (Tool::Dbmate, _) => {
            let last: &[&str] = match action {
                Action::Apply => &["--no-dump-schema", "migrate"],
                Action::Status => &["status"],
            };
            c.args(["--url", target.url, "--migrations-dir"])
                .arg(&layout.path)
                .args(last);
        }
        (Tool::Python, _) => {
            let env = workload::write_python_env(&layout.root, "bench", target.url)?;
            c.args(["migrate", verb(("up", "status")), "--config"])
                .arg(env)
                .arg("--migrations-dir")
                .arg(&layout.path);
        }
    }
    Ok(Some(c))
}

fn psql_connection(c: &mut Command, target: &Target<'_>) {
    c.args(["-X", "-q", "-h", target.host, "-p"])
        .arg(target.port.to_string())
        .args(["-U", target.user, "-d", target.dbname]);
}
