//! `cargo-confiture`: see the library crate for everything.

fn main() -> std::process::ExitCode {
    cargo_confiture::main()
}
