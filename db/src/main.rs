//! The example application: applies pending migrations at startup.

fn main() {}
