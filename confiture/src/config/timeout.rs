//! `Timeout`: the one parser of durations, for flags and environment files alike.

use std::fmt;
use std::time::Duration;

/// A timeout as flags and environment files write it: a whole number with a unit (`500ms`,
/// `5s`, `5 s`, `2min`, `2m`, `1h`), at most [`Timeout::MAX`]. A number without a unit is
/// refused ([`TimeoutError::NoUnit`]), `0` aside: it is seconds to libpq (`connect_timeout`)
/// and milliseconds to PostgreSQL's settings (`lock_timeout`), so either reading of
/// `--lock-wait 30` or `connect_timeout: 10` would surprise half of its readers. A URL's or
/// conninfo's own `connect_timeout` is libpq's, whole seconds ([`Timeout::from_secs_text`]). The one rule for every duration the tool reads — `--lock-wait`,
/// `--lock-timeout-statement`, `--statement-timeout`, `migration.*_timeout`, a URL's
/// `connect_timeout` — so that a value PostgreSQL would refuse is refused before connecting,
/// naming the flag or the file and key, instead of failing inside a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timeout(Duration);

/// Why a text or a [`Duration`] is not a [`Timeout`]. `Display` is a phrase that follows the
/// quoted value (`"600h" is too long: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutError {
    /// Not a whole number with a known unit.
    Malformed,
    /// Longer than PostgreSQL accepts for its timeout settings.
    TooLong,
    /// A number other than 0 without a unit: seconds or milliseconds, it does not say.
    NoUnit,
}

impl Timeout {
    /// PostgreSQL keeps `statement_timeout`, `lock_timeout` and the other timeout settings in
    /// an `int` of milliseconds: 2147483647 ms, about 24.8 days (`596h`).
    pub const MAX: Duration = Duration::from_millis(i32::MAX as u64);

    /// `duration` as a timeout: refused when longer than [`Timeout::MAX`]. Sub-millisecond
    /// parts are kept (PostgreSQL rounds them).
    pub const fn new(duration: Duration) -> Result<Timeout, TimeoutError> {
        if duration.as_nanos() > Timeout::MAX.as_nanos() {
            Err(TimeoutError::TooLong)
        } else {
            Ok(Timeout(duration))
        }
    }

    /// libpq's `connect_timeout`, read as PostgreSQL 15's libpq reads it (`connectDBComplete`):
    /// whole seconds, an `int` as its `parse_int_param` takes one (`strtol`: white space around
    /// it and a sign allowed); zero or negative waits indefinitely (a zero timeout here, as in
    /// `migration.connect_timeout: 0`), and 1 is 2 s, libpq's minimum (it counts in whole
    /// seconds, so 1 could end at once). A URL or conninfo then waits as long here as in psql.
    pub fn from_secs_text(text: &str) -> Result<Timeout, TimeoutError> {
        /// libpq's smallest timeout but none.
        const MIN_SECONDS: u64 = 2;
        let text = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'));
        let seconds = match text.parse::<i32>() {
            Ok(seconds) => u64::try_from(seconds).unwrap_or(0),
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
                return Err(TimeoutError::TooLong)
            }
            Err(_) => return Err(TimeoutError::Malformed),
        };
        let seconds = if seconds == 0 {
            0
        } else {
            seconds.max(MIN_SECONDS)
        };
        Timeout::new(Duration::from_secs(seconds))
    }

    /// The timeout as a `Duration`.
    pub fn duration(self) -> Duration {
        self.0
    }
}

impl From<Timeout> for Duration {
    fn from(timeout: Timeout) -> Duration {
        timeout.0
    }
}

impl std::str::FromStr for Timeout {
    type Err = TimeoutError;

    fn from_str(text: &str) -> Result<Timeout, TimeoutError> {
        let text = text.trim();
        let digits = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        if digits == 0 {
            return Err(TimeoutError::Malformed);
        }
        let factor: u64 = match text[digits..].trim() {
            "" if text.bytes().all(|b| b == b'0') => 1,
            "" => return Err(TimeoutError::NoUnit),
            "ms" => 1,
            "s" | "sec" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            _ => return Err(TimeoutError::Malformed),
        };
        // Only digits are left: a number that does not fit in u64 is too long, not malformed.
        let millis = text[..digits]
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
            .ok_or(TimeoutError::TooLong)?;
        Timeout::new(Duration::from_millis(millis))
    }
}

/// The shortest text that parses back to the same whole milliseconds: `30s`, `2min`, `1h`,
/// `1500ms`, `0` (how defaults appear in `--help`). Sub-millisecond parts are left out.
impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0");
        }
        for (unit, size) in [("h", 3_600_000), ("min", 60_000), ("s", 1_000)] {
            if millis.is_multiple_of(size) {
                return write!(f, "{}{unit}", millis / size);
            }
        }
        write!(f, "{millis}ms")
    }
}

/// What `0` means to a duration setting: the help for one too long
/// ([`TimeoutError::help_for`]) offers `0` only where it lifts the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Zero {
    /// No limit: PostgreSQL's `statement_timeout` and `lock_timeout` (`--statement-timeout`,
    /// `--lock-timeout-statement`, `migration.statement_timeout`, `migration.lock_timeout`),
    /// libpq's `connect_timeout` (`migration.connect_timeout`).
    NoLimit,
    /// No wait at all: tried once, given up at once (`--lock-wait`, `--wait-for-server`,
    /// `migration.wait_for_server`).
    AtOnce,
}

impl TimeoutError {
    /// What to write instead of `text` (the value refused), fitted to it, each suggestion
    /// shown by `shown` (`|v| format!("lock_timeout: {v}")` for a file's key, the value alone
    /// for a flag that the message names): `5` gives "durations need a unit: `5s` (or `5ms`;
    /// ...)", `5 seconds` gives `5s`, `1.5s` gives `1500ms`, `600h` gives `596h` (and `0`
    /// where `zero` says that it is no limit). [`TimeoutError::help`] where no value fits
    /// (`fast`).
    pub fn help_for(self, text: &str, zero: Zero, shown: impl Fn(&str) -> String) -> String {
        let text = text.trim();
        match self {
            TimeoutError::NoUnit => format!(
                "durations need a unit: `{}` (or `{text}ms`; a number alone is seconds to \
                 libpq's connect_timeout and milliseconds to PostgreSQL's settings; units: ms, \
                 s, min, h)",
                shown(&format!("{text}s"))
            ),
            TimeoutError::Malformed => match fitted(text) {
                Some(fit) => format!(
                    "write a whole number with a unit: `{}` (units: ms, s, min, h)",
                    shown(&fit)
                ),
                None => format!(
                    "write a whole number with a unit, e.g. `{}` (units: ms, s, min, h)",
                    shown("5s")
                ),
            },
            TimeoutError::TooLong => match zero {
                Zero::NoLimit => format!(
                    "write a duration of at most 596h (2147483647 ms): `{}`, or `{}` for no \
                     limit",
                    shown("596h"),
                    shown("0")
                ),
                Zero::AtOnce => format!(
                    "write a duration of at most 596h (2147483647 ms): `{}`",
                    shown("596h")
                ),
            },
        }
    }

    /// What to write instead.
    pub fn help(self) -> &'static str {
        match self {
            TimeoutError::Malformed => "write a whole number with a unit: 500ms, 5s, 2min, 1h",
            TimeoutError::NoUnit => {
                "give a unit: 30s or 30ms (a number alone is seconds to libpq's connect_timeout \
                 and milliseconds to PostgreSQL's settings; units: ms, s, min, h)"
            }
            TimeoutError::TooLong => "write a duration of at most 596h (2147483647 ms)",
        }
    }
}

/// The duration `text` means, written as [`Timeout`] reads it, when a number and a unit can be
/// read in it: a unit spelled out (`5 seconds`, `2 mins`, `1 hour`, `500 msec`, `5 days`) or a decimal
/// (`1.5s` is `1500ms`). `None` when it holds no such thing (`fast`, `-5s`).
fn fitted(text: &str) -> Option<String> {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let millis_per: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        _ => return None,
    };
    if number.is_empty() || number.starts_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let millis = number.parse::<f64>().ok()? * millis_per;
    if !millis.is_finite() || millis.fract() != 0.0 || millis > Timeout::MAX.as_millis() as f64 {
        return None;
    }
    let timeout = Timeout::new(Duration::from_millis(millis as u64)).ok()?;
    Some(timeout.to_string())
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeoutError::Malformed => f.write_str("is not a duration"),
            TimeoutError::NoUnit => f.write_str("has no unit"),
            TimeoutError::TooLong => f.write_str(
                "is too long: PostgreSQL's timeouts are at most 2147483647 ms (about 24.8 days)",
            ),
        }
    }
}

impl std::error::Error for TimeoutError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_timeouts() {
        let ms = |n| Ok(Duration::from_millis(n));
        let parse = |text: &str| text.parse::<Timeout>().map(Duration::from);
        assert_eq!(parse("500ms"), ms(500));
        assert_eq!(parse("5s"), ms(5_000));
        assert_eq!(parse(" 5 s "), ms(5_000));
        assert_eq!(parse("2min"), ms(120_000));
        assert_eq!(parse("1m"), ms(60_000));
        assert_eq!(parse("1h"), ms(3_600_000));
        assert_eq!(parse("0"), ms(0));
        assert_eq!(parse(" 000 "), ms(0));
        assert_eq!(parse("0s"), ms(0));
        for bad in ["", "s", "5x", "-5s", "1.5s", "+5s", "5 h m", "٣s"] {
            assert_eq!(parse(bad), Err(TimeoutError::Malformed), "{bad}");
        }
    }

    /// A number without a unit is seconds to libpq (`connect_timeout`) and milliseconds to
    /// PostgreSQL's settings: `--lock-wait 30` waited 30 ms. Refused, whatever its size, except
    /// 0, which is 0 in every unit.
    #[test]
    fn a_number_without_a_unit_is_refused() {
        let parse = |text: &str| text.parse::<Timeout>().map(Duration::from);
        for bare in [
            "30",
            "250",
            " 10 ",
            "1",
            "2147483647",
            "2147483648",
            "99999999999999999999",
        ] {
            assert_eq!(parse(bare), Err(TimeoutError::NoUnit), "{bare}");
        }
        let error = TimeoutError::NoUnit;
        assert!(error.to_string().contains("has no unit"), "{error}");
        assert!(
            error.help().contains("give a unit: 30s or 30ms"),
            "{}",
            error.help()
        );
    }

    /// The help names what to write for the value the user wrote, not a fixed example, in
    /// the form the caller shows (a file's `key: value`, a flag's value).
    #[test]
    fn the_help_fits_the_value_written() {
        let value = |v: &str| v.to_string();
        let help = |text: &str| {
            text.parse::<Timeout>()
                .unwrap_err()
                .help_for(text, Zero::NoLimit, value)
        };
        assert!(
            help("5").starts_with("durations need a unit: `5s` (or `5ms`"),
            "{}",
            help("5")
        );
        assert!(
            help(" 30 ").contains("`30s` (or `30ms`"),
            "{}",
            help(" 30 ")
        );
        let keyed =
            TimeoutError::NoUnit.help_for("5", Zero::NoLimit, |v| format!("lock_timeout: {v}"));
        assert!(keyed.contains("`lock_timeout: 5s` (or `5ms`"), "{keyed}");
        for (written, fit) in [
            ("5 seconds", "`5s`"),
            ("2 mins", "`2min`"),
            ("1 hour", "`1h`"),
            ("500 msec", "`500ms`"),
            ("1.5s", "`1500ms`"),
            ("90 Seconds", "`90s`"),
            ("5days", "`120h`"),
        ] {
            let shown = help(written);
            assert!(shown.contains(fit), "{written}: {shown}");
            // What it suggests is read as a duration.
            let suggested = fit.trim_matches('`');
            assert!(suggested.parse::<Timeout>().is_ok(), "{suggested}");
        }
        // Nothing to fit: an example in the caller's form, and the units.
        for unfit in ["fast", "-5s", "1.5.5s", "0.0001ms", "5x"] {
            let shown = TimeoutError::Malformed
                .help_for(unfit, Zero::NoLimit, |v| format!("lock_timeout: {v}"));
            assert_eq!(
                shown,
                "write a whole number with a unit, e.g. `lock_timeout: 5s` (units: ms, s, min, h)",
                "{unfit}"
            );
        }
        assert!(help("600h").contains("`596h`"), "{}", help("600h"));
        // `0` is offered only where it lifts the limit, in the caller's form.
        let too_long = |zero| TimeoutError::TooLong.help_for("700h", zero, |v| format!("k: {v}"));
        assert!(too_long(Zero::NoLimit).ends_with("`k: 596h`, or `k: 0` for no limit"));
        assert_eq!(
            too_long(Zero::AtOnce),
            "write a duration of at most 596h (2147483647 ms): `k: 596h`"
        );
    }

    #[test]
    fn timeouts_stop_at_postgres_limit() {
        let parse = |text: &str| text.parse::<Timeout>().map(Duration::from);
        // int milliseconds: the largest value PostgreSQL's timeout settings accept.
        assert_eq!(parse("2147483647ms"), Ok(Timeout::MAX));
        assert_eq!(parse("596h"), Ok(Duration::from_secs(596 * 3600)));
        assert_eq!(parse("35791min"), Ok(Duration::from_secs(35_791 * 60)));
        for long in [
            "2147483648ms",
            "2147484s",
            "35792min",
            "597h",
            "600h",
            "3000h",
            "99999999999999999999h",
            "99999999999999999999ms",
        ] {
            assert_eq!(parse(long), Err(TimeoutError::TooLong), "{long}");
        }
        assert_eq!(
            Timeout::from_secs_text("2147483").map(Duration::from),
            Ok(Duration::from_secs(2_147_483))
        );
        for long in ["2147484", "99999999999999999999"] {
            assert_eq!(
                Timeout::from_secs_text(long),
                Err(TimeoutError::TooLong),
                "{long}"
            );
        }
        assert_eq!(Timeout::from_secs_text("5s"), Err(TimeoutError::Malformed));
        assert_eq!(
            Timeout::new(Timeout::MAX + Duration::from_nanos(1)),
            Err(TimeoutError::TooLong)
        );
        assert!(TimeoutError::TooLong.to_string().contains("2147483647 ms"));
    }

    #[test]
    fn shown_as_the_shortest_text_that_parses_back() {
        for (millis, text) in [
            (0, "0"),
            (1, "1ms"),
            (1_500, "1500ms"),
            (30_000, "30s"),
            (120_000, "2min"),
            (90_000, "90s"),
            (3_600_000, "1h"),
            (2_147_483_647, "2147483647ms"),
        ] {
            let timeout = Timeout::new(Duration::from_millis(millis)).unwrap();
            assert_eq!(timeout.to_string(), text);
            assert_eq!(text.parse::<Timeout>(), Ok(timeout), "{text}");
        }
    }
}
