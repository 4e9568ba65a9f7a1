//! The deterministic generator behind the property tests and the lint benchmark: xorshift64*,
//! seeded from `CONFITURE_FUZZ_SEED`, run for `CONFITURE_FUZZ_ITERS` iterations (`cargo xtask
//! fuzz` raises it). No dependency; the same seed always gives the same inputs, so a failure
//! reproduces. A module of the `it` test binary; the lint benchmark includes it with `#[path]`.

#![allow(dead_code)]

pub struct XorShift(pub u64);

impl XorShift {
    /// A generator seeded from `CONFITURE_FUZZ_SEED`, else a fixed seed.
    pub fn from_env() -> XorShift {
        let seed: u64 = std::env::var("CONFITURE_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0xC0_4F16);
        XorShift(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        // xorshift64*: good enough spread for picking fragments.
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// `CONFITURE_FUZZ_ITERS`, else `default` (bounded so that CI runs the tests in debug).
pub fn iterations(default: usize) -> usize {
    std::env::var("CONFITURE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
