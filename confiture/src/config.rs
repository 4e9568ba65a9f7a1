//! Environments: which database, with which settings. Reads `<environments_dir>/<env>.yaml`
//! (confiture's format), expands `${VAR}`, applies the documented precedence, and describes
//! the connection without its password.
