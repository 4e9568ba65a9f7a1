//! Exponential backoff with jitter for polling the migration lock and retrying migrations that
//! hit `lock_timeout`. Jitter spreads runners that started together (several pods of one
//! deploy); it comes from std's randomly keyed hasher, so no random-number crate is needed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Delays that double from `first` up to `max`, each multiplied by a random factor in [0.5, 1.5).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { next: first, max }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        jitter(base)
    }
}

/// `base` times a factor in [0.5, 1.5), different per process, thread and call.
pub(crate) fn jitter(base: Duration) -> Duration {
    // Each RandomState gets fresh keys (seeded per thread from the OS, then incremented).
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    let unit = (hasher.finish() % 1_000_000) as f64 / 1_000_000.0;
    base.mul_f64(0.5 + unit)
}

/// `2s`, `1.5s`, `200ms`: durations as people write them in flags and settings.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms.is_multiple_of(100) {
        let tenths = ms / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_within_the_jitter_band() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        for base in [100u64, 200, 400, 400] {
            let d = b.next_delay();
            assert!(d >= Duration::from_millis(base / 2), "{d:?} for {base}");
            assert!(d < Duration::from_millis(base * 3 / 2), "{d:?} for {base}");
        }
    }

    #[test]
    fn jitter_varies() {
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| jitter(Duration::from_secs(1))).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(30)), "30s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human(Duration::from_millis(200)), "200ms");
        assert_eq!(human(Duration::from_millis(1234)), "1234ms");
    }
}
