//! What an unquoted value of an environment file is to confiture (Python), which reads the file
//! with PyYAML: YAML 1.1, whose plain scalars are more often numbers, booleans and dates than
//! YAML 1.2's (`0123` is the octal 83, `12_345` is 12345, `yes` is true, `1:30` is 90). Pure:
//! PyYAML's implicit resolvers (`yaml/resolver.py`) and `SafeConstructor`, for one plain
//! scalar, and the text Python's `str()` makes of the value, which is what confiture hands to
//! libpq (`make_conninfo(password=str(v))`). The one place that knows YAML 1.1.

/// What PyYAML makes of a plain (unquoted) scalar.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Yaml11 {
    /// A string: the text as written.
    Text,
    /// `~`, `null`, `Null`, `NULL` or nothing: `None`.
    Null,
    /// `yes`, `no`, `on`, `off`, `true`, `false` in three cases.
    Bool(bool),
    /// An integer in any of YAML 1.1's forms, with its value when it fits.
    Int(Option<i128>),
    /// A float (only with a `.`, `.inf` or `.nan` in YAML 1.1: `1e3` is a string).
    Float(f64),
    /// A date (`2001-12-14`), whose `str()` is its text.
    Date,
    /// A date and time, whose `str()` is rewritten (`T` becomes a space, a zone `+00:00`).
    Timestamp,
    /// A scalar PyYAML's safe loader resolves but cannot construct (`=`, `<<` as a value,
    /// `0x_`): confiture fails to read the file.
    Unreadable,
}

impl Yaml11 {
    /// What Python's `str()` makes of the value, `None` when it is not known (a timestamp, a
    /// scalar PyYAML cannot construct, an integer beyond `i128`) or there is no value (null).
    pub(super) fn python_str(&self, text: &str) -> Option<String> {
        match self {
            Yaml11::Text | Yaml11::Date => Some(text.to_string()),
            Yaml11::Bool(true) => Some("True".to_string()),
            Yaml11::Bool(false) => Some("False".to_string()),
            Yaml11::Int(value) => value.map(|v| v.to_string()),
            Yaml11::Float(value) => Some(python_float_repr(*value)),
            Yaml11::Null | Yaml11::Timestamp | Yaml11::Unreadable => None,
        }
    }

    /// The value in words, for messages: `the number 83`, `the boolean True`.
    pub(super) fn described(&self, text: &str) -> String {
        let shown = self.python_str(text);
        match (self, shown) {
            (Yaml11::Bool(_), Some(s)) => format!("the boolean {s}"),
            (Yaml11::Int(_) | Yaml11::Float(_), Some(s)) => format!("the number {s}"),
            (Yaml11::Int(_) | Yaml11::Float(_), None) => "a number".to_string(),
            (Yaml11::Timestamp, _) => "a date and time".to_string(),
            (Yaml11::Date, _) => "a date".to_string(),
            (Yaml11::Null, _) => "null (no value)".to_string(),
            _ => "a value it cannot read".to_string(),
        }
    }
}

/// How PyYAML's safe loader resolves the plain scalar `text` (as written, without quotes).
pub(super) fn resolve(text: &str) -> Yaml11 {
    // PyYAML tries its resolvers in the order they were added: bool, float, int, merge,
    // null, timestamp, value.
    if is_bool(text) {
        return Yaml11::Bool(matches!(
            text,
            "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON"
        ));
    }
    if is_float(text) {
        return float_value(text).map_or(Yaml11::Unreadable, Yaml11::Float);
    }
    if is_int(text) {
        return match int_value(text) {
            IntValue::Fits(v) => Yaml11::Int(Some(v)),
            IntValue::TooLarge => Yaml11::Int(None),
            IntValue::Invalid => Yaml11::Unreadable,
        };
    }
    if text == "<<" || text == "=" {
        return Yaml11::Unreadable;
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Yaml11::Null;
    }
    match timestamp(text) {
        Some(true) => Yaml11::Date,
        Some(false) => Yaml11::Timestamp,
        None => Yaml11::Text,
    }
}

fn is_bool(text: &str) -> bool {
    matches!(
        text,
        "yes"
            | "Yes"
            | "YES"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn without_sign(text: &str) -> &str {
    text.strip_prefix(['-', '+']).unwrap_or(text)
}

fn all(text: &str, f: impl Fn(char) -> bool) -> bool {
    text.chars().all(f)
}

fn digit_or_underscore(c: char) -> bool {
    c.is_ascii_digit() || c == '_'
}

/// `(?::[0-5]?[0-9])+`: the base-60 parts after the first, each `:` then one or two digits,
/// the first of two at most 5.
fn sexagesimal_tail(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(':') else {
        return false;
    };
    rest.split(':').all(|part| match part.as_bytes() {
        [d] => d.is_ascii_digit(),
        [a, b] => (b'0'..=b'5').contains(a) && b.is_ascii_digit(),
        _ => false,
    })
}

/// `[-+]?[0-9][0-9_]*` then `(?::[0-5]?[0-9])+` (`first` = `[1-9]` for integers).
fn sexagesimal(text: &str, first: impl Fn(char) -> bool) -> bool {
    let body = without_sign(text);
    let Some(colon) = body.find(':') else {
        return false;
    };
    let head = &body[..colon];
    head.chars().next().is_some_and(first)
        && all(head, digit_or_underscore)
        && sexagesimal_tail(&body[colon..])
}

/// PyYAML's float regex:
/// `[-+]?([0-9][0-9_]*)\.[0-9_]*([eE][-+][0-9]+)?`, `\.[0-9][0-9_]*([eE][-+][0-9]+)?`,
/// `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*`, `[-+]?\.(inf|Inf|INF)`, `\.(nan|NaN|NAN)`.
fn is_float(text: &str) -> bool {
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let body = without_sign(text);
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    // The exponent, when there is one: `[eE][-+][0-9]+`.
    let mantissa_of = |text: &str| -> Option<usize> {
        match text.find(['e', 'E']) {
            None => Some(text.len()),
            Some(e) => {
                let exp = &text[e + 1..];
                let digits = exp.strip_prefix(['-', '+'])?;
                (!digits.is_empty() && all(digits, |c| c.is_ascii_digit())).then_some(e)
            }
        }
    };
    // `\.[0-9][0-9_]*(exp)?`, no sign.
    if let Some(rest) = text.strip_prefix('.') {
        return rest.starts_with(|c: char| c.is_ascii_digit())
            && mantissa_of(rest).is_some_and(|end| all(&rest[..end], digit_or_underscore));
    }
    let Some(dot) = body.find('.') else {
        return false;
    };
    let (head, tail) = (&body[..dot], &body[dot + 1..]);
    if head.contains(':') {
        // Base 60: no exponent.
        return sexagesimal(head, |c| c.is_ascii_digit()) && all(tail, digit_or_underscore);
    }
    head.chars().next().is_some_and(|c| c.is_ascii_digit())
        && all(head, digit_or_underscore)
        && mantissa_of(tail).is_some_and(|end| all(&tail[..end], digit_or_underscore))
}

/// PyYAML's int regex: `[-+]?0b[0-1_]+`, `[-+]?0[0-7_]+`, `[-+]?(0|[1-9][0-9_]*)`,
/// `[-+]?0x[0-9a-fA-F_]+`, `[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+`.
fn is_int(text: &str) -> bool {
    let body = without_sign(text);
    if let Some(bits) = body.strip_prefix("0b") {
        return !bits.is_empty() && all(bits, |c| matches!(c, '0' | '1' | '_'));
    }
    if let Some(hex) = body.strip_prefix("0x") {
        return !hex.is_empty() && all(hex, |c| c.is_ascii_hexdigit() || c == '_');
    }
    if let Some(octal) = body.strip_prefix('0') {
        return octal.is_empty() || all(octal, |c| matches!(c, '0'..='7' | '_'));
    }
    if body.contains(':') {
        return sexagesimal(body, |c| matches!(c, '1'..='9'));
    }
    body.chars().next().is_some_and(|c| matches!(c, '1'..='9')) && all(body, digit_or_underscore)
}

enum IntValue {
    Fits(i128),
    TooLarge,
    /// Python's `int()` refuses what is left once the underscores are gone (`0x_`).
    Invalid,
}

/// `SafeConstructor.construct_yaml_int`: underscores dropped, then base 2, 16, 8 (a leading
/// `0`), 60 (`:`) or 10.
fn int_value(text: &str) -> IntValue {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, body) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    let parsed = if body == "0" {
        Ok(0)
    } else if let Some(bits) = body.strip_prefix("0b") {
        i128::from_str_radix(bits, 2)
    } else if let Some(hex) = body.strip_prefix("0x") {
        i128::from_str_radix(hex, 16)
    } else if let Some(octal) = body.strip_prefix('0') {
        i128::from_str_radix(octal, 8)
    } else if body.contains(':') {
        body.split(':').try_fold(0i128, |acc, part| {
            let part = part.parse::<i128>()?;
            Ok(acc.saturating_mul(60).saturating_add(part))
        })
    } else {
        body.parse::<i128>()
    };
    match parsed {
        Ok(v) => IntValue::Fits(if negative { -v } else { v }),
        Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => IntValue::TooLarge,
        Err(_) => IntValue::Invalid,
    }
}

/// `SafeConstructor.construct_yaml_float`: underscores dropped, lowercased; `.inf`, `.nan`,
/// base 60, or Python's `float()`.
fn float_value(text: &str) -> Option<f64> {
    let cleaned: String = text
        .chars()
        .filter(|&c| c != '_')
        .collect::<String>()
        .to_lowercase();
    let (sign, body) = match cleaned.strip_prefix('-') {
        Some(rest) => (-1.0, rest.to_string()),
        None => (
            1.0,
            cleaned.strip_prefix('+').unwrap_or(&cleaned).to_string(),
        ),
    };
    let value = if body == ".inf" {
        f64::INFINITY
    } else if body == ".nan" {
        return Some(f64::NAN);
    } else if body.contains(':') {
        // As PyYAML sums them: the last part first, each times its power of 60.
        let (mut value, mut base) = (0.0, 1.0);
        for part in body.rsplit(':') {
            value += part.parse::<f64>().ok()? * base;
            base *= 60.0;
        }
        value
    } else {
        // Python's `float()` takes `1.` and `.5`, as Rust's parser does.
        body.parse::<f64>().ok()?
    };
    Some(sign * value)
}

/// PyYAML's timestamp regex: `Some(true)` for a date alone (`YYYY-MM-DD`), `Some(false)` for
/// a date and time (`YYYY-M-D` then `T`/`t` or blanks, `H:MM:SS`, a fraction, a zone).
fn timestamp(text: &str) -> Option<bool> {
    let b = text.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let date_alone = b.len() == 10
        && digits(&b[..4])
        && b[4] == b'-'
        && digits(&b[5..7])
        && b[7] == b'-'
        && digits(&b[8..10]);
    if date_alone {
        return Some(true);
    }
    let rest = after_date(text)?;
    // Separator: [Tt] or blanks.
    let rest = match rest.strip_prefix(['T', 't']) {
        Some(r) => r,
        None => {
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if trimmed.len() == rest.len() {
                return None;
            }
            trimmed
        }
    };
    // H(H):MM:SS
    let (hour, rest) = rest.split_once(':')?;
    if !(1..=2).contains(&hour.len()) || !digits(hour.as_bytes()) {
        return None;
    }
    let (minute, rest) = (rest.get(..2)?, rest.get(2..)?);
    let rest = rest.strip_prefix(':')?;
    let (second, mut rest) = (rest.get(..2)?, rest.get(2..)?);
    if !digits(minute.as_bytes()) || !digits(second.as_bytes()) {
        return None;
    }
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        rest = &fraction[end..];
    }
    let zone = rest.trim_start_matches([' ', '\t']);
    if zone.is_empty() || zone == "Z" {
        return Some(false);
    }
    let zone = zone.strip_prefix(['-', '+'])?;
    let (h, m) = match zone.split_once(':') {
        Some((h, m)) => (h, Some(m)),
        None => (zone, None),
    };
    let ok = (1..=2).contains(&h.len())
        && digits(h.as_bytes())
        && m.is_none_or(|m| m.len() == 2 && digits(m.as_bytes()));
    ok.then_some(false)
}

/// What follows `YYYY-M(M)-D(D)` at the start of `text`.
fn after_date(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let take = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && *i - start < 2 && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    let mut i = 5;
    if !take(&mut i) || b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    take(&mut i).then(|| &text[i..])
}

/// Python's `repr()` (and `str()`) of a float: the shortest digits that read back as it, in
/// fixed notation when the decimal exponent is from -4 to 15 (with `.0` when whole), else in
/// scientific notation with a signed exponent of at least two digits (`1e+16`, `1e-05`).
fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `1.2345e19`, `-1e-5`, `0e0`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // The decimal point sits after `decpt` digits.
    let decpt = exponent + 1;
    let body = if (-3..=16).contains(&decpt) {
        let n = digits.len() as i32;
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{dot}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each scalar with PyYAML 6's type and `str()` of its value, as
    /// `yaml.safe_load('k: ' + text)['k']` gives them (checked against PyYAML by
    /// `tests/it/interop_python.rs`, which runs the Python tool's own interpreter).
    #[test]
    fn plain_scalars_resolve_as_pyyaml_resolves_them() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("0123", "int", Some("83")),
            ("05432", "int", Some("2842")),
            ("1e3", "str", Some("1e3")),
            ("0x1F", "int", Some("31")),
            ("0o17", "str", Some("0o17")),
            ("12_345", "int", Some("12345")),
            ("1.5", "float", Some("1.5")),
            ("1.50", "float", Some("1.5")),
            ("1.", "float", Some("1.0")),
            ("1.0e+3", "float", Some("1000.0")),
            (".5", "float", Some("0.5")),
            ("-0", "int", Some("0")),
            ("+5", "int", Some("5")),
            ("1:30", "int", Some("90")),
            ("1:30.5", "float", Some("90.5")),
            ("yes", "bool", Some("True")),
            ("on", "bool", Some("True")),
            ("OFF", "bool", Some("False")),
            ("True", "bool", Some("True")),
            ("2001-12-14", "date", Some("2001-12-14")),
            ("2001-12-14 21:59:43", "datetime", None),
            ("2001-12-14T21:59:43Z", "datetime", None),
            ("2001-1-4t1:59:43.5 +05", "datetime", None),
            (".inf", "float", Some("inf")),
            ("-.Inf", "float", Some("-inf")),
            (".nan", "float", Some("nan")),
            (
                "12345678901234567890.0",
                "float",
                Some("1.2345678901234567e+19"),
            ),
            ("0.0001", "float", Some("0.0001")),
            ("0.00001", "float", Some("1e-05")),
            ("1e16", "str", Some("1e16")),
            ("123456789012345678", "int", Some("123456789012345678")),
            ("1_0.0_1", "float", Some("10.01")),
            ("0b101", "int", Some("5")),
            ("0b", "str", Some("0b")),
            ("08", "str", Some("08")),
            ("09.5", "float", Some("9.5")),
            ("1.5e3", "str", Some("1.5e3")),
            ("1.5e+3", "float", Some("1500.0")),
            ("-0.0", "float", Some("-0.0")),
            ("0.1e-5", "float", Some("1e-06")),
            ("100000000000000000.0", "float", Some("1e+17")),
            ("10000000000000000.0", "float", Some("1e+16")),
            ("1000000000000000.0", "float", Some("1000000000000000.0")),
            ("00", "int", Some("0")),
            ("0_", "int", Some("0")),
            ("-0x1f", "int", Some("-31")),
            ("1__2", "int", Some("12")),
            ("0x_", "error", None),
            ("=", "error", None),
            ("~", "null", None),
            ("s3cret", "str", Some("s3cret")),
            ("12ab", "str", Some("12ab")),
            ("1:60", "str", Some("1:60")),
            ("0:30", "str", Some("0:30")),
            ("5432", "int", Some("5432")),
        ];
        for (text, kind, shown) in cases {
            let resolved = resolve(text);
            let got = match resolved {
                Yaml11::Text => "str",
                Yaml11::Null => "null",
                Yaml11::Bool(_) => "bool",
                Yaml11::Int(_) => "int",
                Yaml11::Float(_) => "float",
                Yaml11::Date => "date",
                Yaml11::Timestamp => "datetime",
                Yaml11::Unreadable => "error",
            };
            assert_eq!(got, *kind, "{text}");
            assert_eq!(resolved.python_str(text).as_deref(), *shown, "{text}");
        }
    }
}
