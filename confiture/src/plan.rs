//! What `up` and `down` will do, decided from the files, the ledger and the request. Pure.
