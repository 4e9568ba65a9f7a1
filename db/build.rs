//! Our dogfood: a broken `db/migrations` breaks our own build.

fn main() {}
