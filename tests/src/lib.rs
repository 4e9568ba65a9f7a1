//! Test harness: throwaway databases, running the binary, fixture directories.
