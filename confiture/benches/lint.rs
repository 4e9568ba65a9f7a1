//! Benchmark (not a timed test): lexing and checking 10,000 in-memory migration files of
//! typical size (5–50 statements of realistic DDL/DML, with PL/pgSQL `$$` bodies) with
//! `files::rules::check_sql`. Budget: 150 ms for all of them in release.
//!
//! `cargo bench -p confiture --no-default-features --bench lint` (`-- --files N` to change the
//! count). Prints the best and median of several runs; the verdict uses the best, the least
//! disturbed by other work on a shared machine.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use confiture::files::rules::check_sql;
use confiture::files::Direction;
use confiture::files::{lexer, markers};

#[path = "../tests/it/support/xorshift.rs"]
mod xorshift;

use xorshift::XorShift;

fn statement(rng: &mut XorShift, file: usize, i: usize, out: &mut String) {
    use std::fmt::Write as _;
    let t = format!("tb_item_{file}_{i}");
    let _ = match rng.below(12) {
        0 => writeln!(
            out,
            "-- {t}: one row per item\nCREATE TABLE {t} (\n    pk_item INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    \
             id UUID DEFAULT gen_random_uuid() UNIQUE NOT NULL,\n    fk_user INTEGER NOT NULL REFERENCES tb_user(pk_user),\n    \
             name TEXT NOT NULL,\n    created_at TIMESTAMPTZ DEFAULT NOW()\n);"
        ),
        1 => writeln!(out, "ALTER TABLE tb_user ADD COLUMN col_{file}_{i} TEXT;"),
        2 => writeln!(out, "CREATE INDEX idx_{t}_name ON {t} (name);"),
        3 => writeln!(
            out,
            "INSERT INTO tb_setting (key, value, note) VALUES\n    ('key_{i}', 'it''s on; really', E'line\\none'),\n    \
             ('other_{i}', '{{\"a\": 1}}', NULL);"
        ),
        4 => writeln!(out, "UPDATE tb_user SET display_name = name WHERE display_name IS NULL AND pk_user > {i};"),
        5 => writeln!(
            out,
            "CREATE OR REPLACE VIEW v_user_{i} AS\nSELECT\n    u.id,\n    jsonb_build_object(\n        'id', u.id::text,\n        \
             'name', u.name, -- shown as is\n        'email', u.email\n    ) AS data\nFROM tb_user u;"
        ),
        6 => writeln!(
            out,
            "CREATE OR REPLACE FUNCTION fn_touch_{i}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n    \
             NEW.updated_at := now();\n    IF NEW.name = '' THEN\n        RAISE EXCEPTION 'empty name; rejected';\n    END IF;\n    \
             RETURN NEW;\nEND\n$$;"
        ),
        7 => writeln!(out, "COMMENT ON COLUMN tb_user.display_name IS 'Shown in the UI; falls back to name';"),
        8 => writeln!(
            out,
            "ALTER TABLE tb_post ADD CONSTRAINT fk_post_{i} FOREIGN KEY (fk_user) REFERENCES tb_user (pk_user) NOT VALID;"
        ),
        9 => writeln!(out, "/* backfill in one go: the table is small */\nDELETE FROM tb_session WHERE expires_at < now() - interval '30 days';"),
        10 => writeln!(out, "ALTER TABLE tb_post ALTER COLUMN slug SET NOT NULL, ALTER COLUMN views SET DEFAULT 0;"),
        _ => writeln!(out, "GRANT SELECT ON tb_user TO app_reader;"),
    };
}

fn corpus(files: usize) -> Vec<String> {
    let mut rng = XorShift(0x00C0_FF17_u64);
    (0..files)
        .map(|f| {
            let mut text = String::from("-- generated migration\n\n");
            for i in 0..5 + rng.below(46) {
                statement(&mut rng, f, i, &mut text);
                text.push('\n');
            }
            text
        })
        .collect()
}

fn time(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut result = 0;
    for _ in 0..runs {
        let start = Instant::now();
        result = black_box(f());
        times.push(start.elapsed());
    }
    times.sort();
    (times[0], times[runs / 2], result)
}

fn main() {
    let mut args = std::env::args().skip_while(|a| a != "--files");
    let files: usize = args.nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let texts = corpus(files);
    let bytes: usize = texts.iter().map(String::len).sum();
    let path = Path::new("db/migrations/001_bench.up.sql");

    let (best_split, median_split, statements) = time(7, || {
        texts
            .iter()
            .map(|t| lexer::split(black_box(t)).statements.len())
            .sum()
    });
    let (best_markers, _, _) = time(7, || {
        texts
            .iter()
            .map(|t| markers::parse(black_box(t)).allows.len())
            .sum()
    });
    let (best, median, diagnostics) = time(7, || {
        texts
            .iter()
            .map(|t| check_sql(path, black_box(t), Direction::Up).len())
            .sum()
    });

    let mb = bytes as f64 / 1e6;
    println!("lint: {files} files, {statements} statements, {mb:.1} MB, {diagnostics} diagnostics");
    println!(
        "lexer::split      best {:>7.1} ms  median {:>7.1} ms  ({:.0} MB/s)",
        best_split.as_secs_f64() * 1e3,
        median_split.as_secs_f64() * 1e3,
        mb / best_split.as_secs_f64()
    );
    println!(
        "markers::parse    best {:>7.1} ms",
        best_markers.as_secs_f64() * 1e3
    );
    println!(
        "rules::check_sql  best {:>7.1} ms  median {:>7.1} ms  ({:.0} MB/s, {:.1} µs/file)  budget 150 ms: {}",
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        mb / best.as_secs_f64(),
        best.as_secs_f64() * 1e6 / files as f64,
        if best <= Duration::from_millis(150) { "within" } else { "OVER" }
    );
}
