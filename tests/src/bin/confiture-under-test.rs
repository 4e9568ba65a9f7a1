//! The CLI under test: the same code as `cargo-confiture`, built inside this package so the
//! tests get its path from `CARGO_BIN_EXE_confiture-under-test`.

fn main() -> std::process::ExitCode {
    cargo_confiture::main()
}
