//! The status of each migration, decided from the files and the ledger rows. Pure.
