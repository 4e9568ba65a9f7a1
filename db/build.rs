//! Our dogfood: a broken `db/migrations` breaks our own build.

fn main() -> Result<(), confiture_build::Error> {
    confiture_build::check()?;
    Ok(())
}
