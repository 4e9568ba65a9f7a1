//! The PostgreSQL statement lexer and splitter (issue 3).
