//! Checks `db/migrations` and embeds it in the binary: a broken migrations directory breaks
//! our own build, and the service needs no files at run time.

fn main() -> Result<(), confiture_build::Error> {
    confiture_build::Check::new().embed().run()?;
    Ok(())
}
