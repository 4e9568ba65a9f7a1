//! Check a cargo-confiture migrations directory from `build.rs`.
