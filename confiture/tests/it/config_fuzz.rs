//! Property test of connection strings (`ConnectionSpec::parse`), environment files
//! (`Environment::parse`: YAML, `${VAR}` expansion, URLs, the legacy `database:` block,
//! durations) and `Timeout`'s parser, on generated input: nothing panics, a URL built from parts
//! (password percent-encoded) parses back to those parts, and a password is never shown — not
//! by `Display`, `Debug` or `describe()` of what parsed, nor by any error about what did not.
//!
//! Deterministic (a fixed-seed xorshift generator, as in `sql_split_props.rs`, no dependency);
//! bounded so that CI runs it in debug. `CONFITURE_FUZZ_ITERS=200000` runs longer (`cargo xtask
//! fuzz`); `CONFITURE_FUZZ_SEED` picks the seed.

use std::path::Path;
use std::time::Duration;

use confiture::config::{ConnectionSpec, Environment, Timeout};
use confiture::Error;

use crate::xorshift;

use xorshift::{iterations, XorShift};

fn rng() -> XorShift {
    XorShift::from_env()
}

/// Everything an error says: message, cause, details and help.
fn error_text(e: &Error) -> String {
    format!("{e} {:?} {:?}", e.details, e.help)
}

/// What a parsed connection shows, in every way it can be shown.
fn shown(spec: &ConnectionSpec) -> String {
    format!("{spec} {spec:?}")
}

/// What the connection shows with no password at all: a password that happens to be a piece
/// of it (`app` in `application_name`) is not a leak.
fn visible_fields(spec: &ConnectionSpec) -> String {
    let mut without = spec.clone();
    without.password = None;
    format!("{} <redacted>", shown(&without))
}

/// Asserts that a successfully parsed connection never shows its password.
fn assert_hidden(spec: &ConnectionSpec, input: &str) {
    let Some(password) = spec.password.as_deref().filter(|p| p.len() >= 3) else {
        return;
    };
    if visible_fields(spec).contains(password) {
        return;
    }
    let text = shown(spec);
    assert!(
        !text.contains(password),
        "{input:?}: the password {password:?} is shown: {text}"
    );
}

/// Asserts that no value but the password took a `password=` pair (`user=u,password=PW`
/// read as the user `u,password=PW`): such a connection string is refused, and the spec
/// never shows it either.
fn assert_no_password_pair_taken(spec: &ConnectionSpec, input: &str) {
    let hosts = spec.hosts().map(|(host, _)| host.to_string());
    let values = [&spec.user, &spec.dbname]
        .into_iter()
        .cloned()
        .chain(spec.options.clone())
        .chain(spec.application_name.clone())
        .chain(hosts);
    for value in values {
        assert!(
            !value.to_ascii_lowercase().contains("password="),
            "{input:?}: a value took a password pair: {value:?}"
        );
    }
    assert!(
        !spec.to_string().contains("Pw-S3cr3t x"),
        "{input:?}: {spec}"
    );
}

// ---------------------------------------------------------------------------------------------
// Connection strings

const URL_FRAGMENTS: &[&str] = &[
    "postgresql://",
    "postgres://",
    "mysql://",
    "://",
    "user",
    "app",
    ":",
    "@",
    "@@",
    "/",
    "?",
    "&",
    "=",
    "#",
    "%",
    "%2F",
    "%40",
    "%zz",
    "%c3%a9",
    "%ff",
    "[",
    "]",
    "[::1]",
    "localhost",
    "db.example.invalid",
    "127.0.0.1",
    ",",
    "5432",
    "0",
    "65536",
    "99999999999999999999",
    "%2Fvar%2Frun%2Fpostgresql",
    "sslmode=",
    "require",
    "verify-full",
    "sometimes",
    "sslrootcert=",
    "system",
    "connect_timeout=",
    "application_name=",
    "options=",
    "-c search_path=app",
    "host=",
    "port=",
    "dbname=",
    "user=",
    "password=",
    "sslcert=",
    "'",
    "\\",
    " ",
    "\t",
    "\n",
    "é",
    "🦀",
    // The password marker, only ever where a password goes.
    "password=Pw-S3cr3t",
    ":Pw-S3cr3t@",
    "password='Pw-S3cr3t x'",
];

fn generate_spec_text(rng: &mut XorShift) -> String {
    let pieces = rng.below(16);
    let mut bytes = Vec::new();
    for _ in 0..pieces {
        match rng.below(8) {
            0 => bytes.push(b' ' + rng.below(95) as u8),
            1 => bytes.push(rng.next() as u8),
            _ => bytes.extend_from_slice(rng.pick(URL_FRAGMENTS).as_bytes()),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn generated_connection_strings_never_panic_or_show_a_password() {
    let mut rng = rng();
    for _ in 0..iterations(15_000) {
        let text = generate_spec_text(&mut rng);
        match ConnectionSpec::parse(&text) {
            Ok(spec) => {
                assert_hidden(&spec, &text);
                assert_no_password_pair_taken(&spec, &text);
                assert!(spec.port > 0, "{text:?}");
                let _ = spec.scrub(&text);
            }
            Err(e) => {
                assert!(!e.message.is_empty());
                // The marker is only ever generated as a password.
                if text.contains("Pw-S3cr3t") {
                    let said = error_text(&e);
                    assert!(
                        !said.contains("Pw-S3cr3t"),
                        "{text:?}: an error quotes a password-like value: {said}"
                    );
                }
            }
        }
    }
}

/// Characters a password may hold, including every one with a meaning in URLs or conninfo.
const PASSWORD_CHARS: &[char] = &[
    'a', 'Z', '7', '-', '_', '.', '~', '@', ':', '/', '?', '#', '&', '=', '%', '+', ' ', '\'',
    '\\', '[', ']', '$', '{', '}', 'é', '🦀',
];

fn generate_password(rng: &mut XorShift) -> String {
    // A distinctive start, so that the password cannot be a piece of the other fields.
    let mut password = String::from("Pw");
    for _ in 0..1 + rng.below(12) {
        password.push(PASSWORD_CHARS[rng.below(PASSWORD_CHARS.len())]);
    }
    password
}

/// RFC 3986 unreserved characters stay, everything else is percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
fn urls_built_from_parts_parse_back_and_never_show_the_password() {
    let mut rng = rng();
    for _ in 0..iterations(20_000) {
        let user = rng.pick(&["app", "postgres", "a.b", "x_y"]).to_string();
        let password = generate_password(&mut rng);
        let host = rng
            .pick(&["localhost", "db.example.invalid", "10.1.2.3", "::1"])
            .to_string();
        let port = 1 + rng.below(65535) as u16;
        let dbname = rng.pick(&["app", "my_db", "x"]).to_string();
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };

        // Percent-encoded: parses back to the parts.
        let url = format!(
            "postgresql://{user}:{}@{shown_host}:{port}/{dbname}?sslmode=disable",
            percent_encode(&password)
        );
        let spec = ConnectionSpec::parse(&url).unwrap_or_else(|e| panic!("{url:?}: {e}"));
        assert_eq!(spec.password.as_deref(), Some(password.as_str()), "{url}");
        assert_eq!(
            (
                spec.user.as_str(),
                spec.host.as_str(),
                spec.port,
                spec.dbname.as_str()
            ),
            (user.as_str(), host.as_str(), port, dbname.as_str()),
            "{url}"
        );
        assert_hidden(&spec, &url);
        let scrubbed = spec.scrub(&format!("server said: {password} / {url}"));
        assert!(!scrubbed.contains(&password), "{scrubbed}");

        // As libpq conninfo, quoted and escaped.
        let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
        let conninfo =
            format!("host={host} port={port} dbname={dbname} user={user} password='{quoted}'");
        let spec = ConnectionSpec::parse(&conninfo).unwrap_or_else(|e| panic!("{conninfo:?}: {e}"));
        assert_eq!(
            spec.password.as_deref(),
            Some(password.as_str()),
            "{conninfo}"
        );
        assert_hidden(&spec, &conninfo);

        // Written raw, as users do: parsed or refused, it is never shown.
        for text in [
            format!("postgresql://{user}:{password}@{shown_host}:{port}/{dbname}"),
            format!("host={host} port={port} user={user} password={password} dbname={dbname}"),
        ] {
            match ConnectionSpec::parse(&text) {
                Ok(spec) => {
                    assert_hidden(&spec, &text);
                    assert!(!shown(&spec).contains(&password), "{text:?}: {spec}");
                }
                Err(e) => {
                    let said = error_text(&e);
                    assert!(!said.contains(&password), "{text:?}: {said}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Environment files

const YAML_FRAGMENTS: &[&str] = &[
    "database_url: ",
    "database:\n",
    "  host: ",
    "  port: ",
    "  database: ",
    "  user: ",
    "  password: ",
    "  sslmode: ",
    "  sslrootcert: ",
    "  hots: ",
    "migration:\n",
    "  tracking_table: ",
    "  lock_timeout: ",
    "  statement_timeout: ",
    "  connect_timeout: ",
    "  lock_retries: ",
    "  lock_timout: ",
    "application_name: ",
    "name: ",
    "include_dirs: [a, b]\n",
    "postgresql://app:",
    "@localhost:5432/app",
    "?sslmode=require",
    "host=localhost dbname=app password=",
    "${SOME_VAR}",
    "${SOME_VAR:-x}",
    "${UNSET}",
    "${UNSET:-fallback}",
    "${",
    "${1X}",
    "$$",
    "$",
    "5s",
    "500ms",
    "2min",
    "forever",
    "-1",
    "3",
    "99999999999999999999h",
    "ops.tb_confiture",
    "tb confiture",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "- ",
    "&a ",
    "*a",
    "!!binary ",
    "? ",
    "~",
    "null",
    "true",
    "123",
    "1.5",
    ": ",
    "\n",
    "\n  ",
    "\t",
    "#",
    "---\n",
    "...\n",
    "é",
    "\u{feff}",
    "Pw-S3cr3t",
];

/// The value of `${DB_PASSWORD}`, which the generators put only where a password goes.
const SECRET: &str = "Pw-S3cr3t-from-var";

fn vars(name: &str) -> Option<String> {
    match name {
        "DB_PASSWORD" => Some(SECRET.to_string()),
        "SOME_VAR" => Some("require".to_string()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

const URL_VALUES: &[&str] = &[
    "postgresql://app:${DB_PASSWORD}@localhost:5432/app",
    "postgresql://app:${DB_PASSWORD:-x}@db.example.invalid/app?sslmode=require",
    "postgresql://app:Pw-S3cr3t@localhost/app",
    "postgresql://app:${UNSET}@localhost/app",
    "postgresql://app@localhost:99999/app",
    "postgres://[::1]:5432/app?connect_timeout=5",
    "host=localhost dbname=app password=${DB_PASSWORD}",
    "host=localhost dbname=app password='${DB_PASSWORD} x'",
    "${DATABASE_URL:-postgresql://localhost/app}",
    "mysql://app@localhost/app",
    "''",
    "123",
    "[a, b]",
    "~",
];

const SETTING_VALUES: &[&str] = &[
    "localhost",
    "5432",
    "'5432'",
    "abc",
    "app",
    "${SOME_VAR}",
    "'${SOME_VAR}'",
    "${EMPTY:-x}",
    "${UNSET}",
    "require",
    "sometimes",
    "/nonexistent/ca.pem",
    "5s",
    "forever",
    "-1",
    "ops.tb_confiture",
    "'a b'",
    "~",
    "[]",
    "{}",
    "true",
    "1.5",
];

const BLOCK_KEYS: &[&str] = &[
    "host",
    "port",
    "database",
    "user",
    "password",
    "sslmode",
    "sslrootcert",
    "hots",
    "tracking_table",
    "lock_timeout",
    "statement_timeout",
    "connect_timeout",
    "lock_retries",
    "lock_timout",
];

/// A file that looks like an environment file, then perhaps damaged: most generated files
/// get past the YAML parser, so the checks after it are exercised too.
fn generate_structured_yaml(rng: &mut XorShift) -> String {
    let mut text = String::new();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 | 1 => text.push_str(&format!("database_url: {}\n", rng.pick(URL_VALUES))),
            2 | 3 => {
                let block = rng.pick(&["database", "migration", "databse", "build"]);
                text.push_str(&format!("{block}:\n"));
                for _ in 0..rng.below(6) {
                    let key = rng.pick(BLOCK_KEYS);
                    // The secret variable only ever where a password goes.
                    let value = if key == "password" && rng.below(2) == 0 {
                        rng.pick(&["${DB_PASSWORD}", "'${DB_PASSWORD}'", "\"${DB_PASSWORD}x\""])
                    } else {
                        rng.pick(SETTING_VALUES)
                    };
                    text.push_str(&format!("  {key}: {value}\n"));
                }
            }
            _ => text.push_str(&format!(
                "{}: {}\n",
                rng.pick(&["application_name", "name", "include_dirs", "database_ur"]),
                rng.pick(SETTING_VALUES)
            )),
        }
    }
    if rng.below(3) == 0 {
        let mut at = rng.below(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, rng.pick(YAML_FRAGMENTS));
    }
    text
}

fn generate_yaml(rng: &mut XorShift) -> String {
    if rng.below(3) != 0 {
        return generate_structured_yaml(rng);
    }
    let pieces = rng.below(24);
    let mut bytes = Vec::new();
    for _ in 0..pieces {
        match rng.below(10) {
            0 => bytes.push(b' ' + rng.below(95) as u8),
            1 => bytes.push(rng.next() as u8),
            _ => bytes.extend_from_slice(rng.pick(YAML_FRAGMENTS).as_bytes()),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check_environment(text: &str) {
    let path = Path::new("db/environments/fuzz.yaml");
    match Environment::parse(text, path, &vars) {
        Ok(env) => {
            assert_hidden(&env.connection, text);
            if let Some(password) = env.connection.password.as_deref().filter(|p| p.len() >= 3) {
                let mut without = env.clone();
                without.connection.password = None;
                let innocent = format!(
                    "{} {} {without:?} <redacted>",
                    without.describe(),
                    without.source()
                );
                if !innocent.contains(password) {
                    let described = format!("{} {} {env:?}", env.describe(), env.source());
                    assert!(
                        !described.contains(password),
                        "{text:?}: the password {password:?} is shown: {described}"
                    );
                }
            }
            assert!(env.connection.port > 0);
        }
        Err(e) => {
            assert!(!e.message.is_empty(), "{text:?}");
            // The variable's value is a password wherever it is used.
            let said = error_text(&e);
            assert!(
                !said.contains(SECRET),
                "{text:?}: an error shows the value of ${{DB_PASSWORD}}: {said}"
            );
        }
    }
}

#[test]
fn generated_environment_files_never_panic_or_show_a_password() {
    let mut rng = rng();
    // YAML parsing dominates: fewer iterations for the same time.
    for _ in 0..iterations(50_000) / 6 {
        check_environment(&generate_yaml(&mut rng));
    }
}

#[test]
fn environment_files_built_from_parts_never_show_the_password() {
    let mut rng = rng();
    for _ in 0..iterations(50_000) / 5 {
        let password = generate_password(&mut rng);
        let yaml_quoted = password.replace('\'', "''");
        let text = match rng.below(3) {
            0 => format!(
                "database_url: 'postgresql://app:{}@localhost:5432/app'\n",
                percent_encode(&password)
            ),
            1 => format!(
                "database:\n  host: localhost\n  user: app\n  password: '{yaml_quoted}'\n  database: app\n"
            ),
            _ => format!("database_url: 'postgresql://app:{yaml_quoted}@localhost/app'\n"),
        };
        let text = match rng.below(4) {
            0 => format!(
                "{text}migration:\n  lock_timeout: {}\n",
                rng.pick(&["5s", "forever", "-1", "1h"])
            ),
            1 => format!(
                "{text}migration:\n  tracking_table: '{}'\n",
                rng.pick(&["ops.t", "a b", "x\"y", "1t"])
            ),
            _ => text,
        };
        // `$` starts a variable: where the password has one, the file may be refused.
        let path = Path::new("db/environments/fuzz.yaml");
        match Environment::parse(&text, path, &vars) {
            Ok(env) => {
                let described = format!("{} {env:?} {}", env.describe(), env.connection);
                assert!(!described.contains(&password), "{text:?}: {described}");
                assert!(
                    !described.contains(&percent_encode(&password)),
                    "{text:?}: {described}"
                );
            }
            Err(e) => {
                let said = error_text(&e);
                assert!(!said.contains(&password), "{text:?}: {said}");
                assert!(
                    !said.contains(&percent_encode(&password)),
                    "{text:?}: {said}"
                );
            }
        }
    }
}

#[test]
fn generated_durations_never_panic() {
    let mut rng = rng();
    const PIECES: &[&str] = &[
        "0",
        "5",
        "500",
        "18446744073709551615",
        "99999999999999999999",
        "ms",
        "s",
        "sec",
        "m",
        "min",
        "h",
        "d",
        " ",
        "-",
        ".",
        "é",
        "+",
    ];
    for _ in 0..iterations(50_000) {
        let mut text = String::new();
        for _ in 0..rng.below(5) {
            text.push_str(rng.pick(PIECES));
        }
        if let Ok(timeout) = text.parse::<Timeout>() {
            let d = Duration::from(timeout);
            // A duration is a whole number of milliseconds, within PostgreSQL's range.
            assert_eq!(d.subsec_nanos() % 1_000_000, 0, "{text:?}");
            assert!(d <= Timeout::MAX, "{text:?}");
        }
    }
}

#[test]
fn edge_inputs() {
    for text in [
        "",
        "postgresql://",
        "postgresql://@",
        "postgresql://:@",
        "postgresql://[",
        "postgresql://[]",
        "postgresql://[]:",
        "postgresql://h:/",
        "postgresql://h?",
        "postgresql://h?=",
        "postgresql://h?a",
        "postgresql://%",
        "postgresql://%f",
        "=",
        "a=",
        "a='",
        "a='\\",
        "password=\\",
    ] {
        match ConnectionSpec::parse(text) {
            Ok(spec) => assert_hidden(&spec, text),
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
    for text in [
        "",
        "~",
        "[]",
        "- a",
        "database_url:",
        "database_url: ~",
        "database_url: ''",
        "database: ~",
        "database: {}",
        "database: []",
        "migration: {}",
        "database_url: ${",
        "database_url: ${}",
        "database_url: ${:-x}",
        "database_url: $${DB_PASSWORD}",
        "? [a]\n: b",
        "{[a]: b}",
        "database_url: !!binary aGVsbG8=",
        "database_url: &a postgresql://h/db\napplication_name: *a",
        "\u{feff}database_url: postgresql://h/db",
    ] {
        check_environment(text);
    }
}
