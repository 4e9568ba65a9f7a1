//! C119 `resets-timeouts`: `RESET ALL`, `RESET lock_timeout`, or `SET lock_timeout = 0` (or
//! `statement_timeout`, or `DEFAULT`, or `set_config`, or any value the server rounds to 0) in a
//! migration switches off the environment's `migration.lock_timeout`/`statement_timeout` for
//! the rest of that migration; and, in a no-transaction migration, `idle_session_timeout` set
//! to a bound ends the migration's own session between two of its statements.

use super::lexer::Token;
use super::settings::{self, How, Value};
use super::{do_block, syntax, Context, Diagnostic, RuleDoc, Severity, Statement};

pub(super) const DOC: RuleDoc = RuleDoc {
    code: "C119",
    name: "resets-timeouts",
    severity: Severity::Warning,
    help_names_allow: true,
    summary: "`RESET ALL`, or `lock_timeout`/`statement_timeout` reset or set to 0: the environment's bounds are off for the rest of the migration; `idle_session_timeout` set in a no-transaction migration ends its own session",
    explanation: "\
confiture sets the environment's `migration.lock_timeout` and `migration.statement_timeout`
(and the command's flags) in each migration's transaction, so that a statement waiting for a
lock gives up instead of queueing every other session's traffic behind its request. `RESET ALL`
returns them to the server's defaults (usually none), and so do `RESET lock_timeout` and `SET
lock_timeout = 0` (or `DEFAULT`, or `statement_timeout` the same): every later statement of the
migration waits for a lock as long as another session holds it. pg_dump's preamble (`SET
statement_timeout = 0; SET lock_timeout = 0; ...`) pasted into a migration does just that. The
next migration gets the environment's bounds back.

Flagged, in up and down files: `RESET ALL`, `RESET lock_timeout`, `RESET statement_timeout`;
`SET [SESSION | LOCAL] lock_timeout | statement_timeout` to `DEFAULT` or to a value the server
reads as 0; `[pg_catalog.]set_config('lock_timeout', value, is_local)` to such a value or
`NULL`; and `UPDATE pg_settings SET setting = ...` of those settings (the view's rule calls
`set_config`). A value is read as PostgreSQL does: a number or a string, with an optional unit
(`us`, `ms`, `s`, `min`, `h`, `d`), a fraction rounded to a whole millisecond: `0`, `0.0`,
`'0s'`, `'0ms'`, and `'0.4ms'` or `'499us'` (rounded to 0) all turn the bound off. Both scopes
count: `SET LOCAL` and `set_config(..., true)` last until the migration's transaction ends,
which is the rest of the migration. `migrate up` also says it when it runs such a migration.
Not flagged: a non-zero value (the migration chose its own bound), a value the server refuses
(the `SET` fails), `ALTER DATABASE | ROLE | FUNCTION ... SET` (other sessions' bounds, or a
function's), and a column named like a bound (`UPDATE t SET lock_timeout = 0`, also `ON
CONFLICT DO UPDATE SET` and `MERGE ... UPDATE SET`).

The body of a `DO` block runs in the migration's session: the same statements in it are flagged
(`RESET ALL;`, `SET lock_timeout = 0;`, `PERFORM set_config(...)`, `EXECUTE 'RESET ALL'`),
dollar-quoted or `'...'` (`''` and `E'...'` escapes decoded, quotes inside quotes read in turn), not
those of a function's body (run where the function is called). `set_config` is read with its
arguments in order or named (`set_config(setting_name => 'lock_timeout', new_value => '0',
is_local => false)`, also `:=`).

The other way round, in a `-- confiture:no-transaction` migration: confiture sends its
statements one by one, and between two of them the session is idle, outside a transaction.
`SET idle_session_timeout = '1ms'` (or `set_config('idle_session_timeout', '1ms', false)`, an
`UPDATE pg_settings`, the same in a `DO` block) makes the server end the session there (FATAL
57P05): the migration stops part-way, recorded as interrupted, and every run of it stops the
same way. Flagged: such a statement setting it, for the session, to any value the server reads
as more than 0. Not flagged: `0` (no timeout), `SET LOCAL` and `set_config(..., true)` (they
end with the statement's own transaction), a transactional migration (sent in one message and
followed by confiture's `RESET ALL`), `ALTER DATABASE | ROLE ... SET`. A value set at run
time (dynamic SQL, a function) is not seen: `migrate up` then says that the server ended the
session for its idle timeout, and never to just run it again. Nor is
`idle_in_transaction_session_timeout`, whatever the migration sets it to: a no-transaction
migration is idle between its statements outside a transaction, and confiture keeps it off
across its own pauses inside a transaction (between the parts of a migration over 64 KiB, and
in `--single-transaction`), giving the migration its value back for its statements.

**Fix:** remove the statement (reset only the settings the migration itself set, by name), or
set the bound the migration needs; allow it with `-- confiture:allow(resets-timeouts)`.",
};

/// The settings whose loss this rule reports.
const BOUNDS: [&str; 2] = ["lock_timeout", "statement_timeout"];

pub(super) fn check(cx: &Context<'_>, stmt: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    if !(stmt.starts_with(&["RESET"]) || settings::may_assign(cx, stmt)) {
        return;
    }
    let tokens: Vec<Token<'_>> = stmt.tokens().collect();
    let Some(found) = finding(&tokens, cx.markers.no_transaction) else {
        return;
    };
    out.push(cx.diagnostic(
        &DOC,
        stmt.range.clone(),
        found.message(),
        found.help().to_string(),
    ));
}

/// What the rule finds in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// It turns the environment's `lock_timeout`/`statement_timeout` off (`RESET ALL`, `SET
    /// lock_timeout = 0`): the rest of its migration is unbounded.
    BoundsOff(String),
    /// It sets `idle_session_timeout` to a bound in a no-transaction migration: the server ends
    /// the session between two of its statements.
    EndsIdleSession(String),
}

impl Finding {
    /// The rule's message (and `migrate up`'s warning).
    pub(crate) fn message(&self) -> String {
        match self {
            Finding::BoundsOff(what) => message(what),
            Finding::EndsIdleSession(what) => idle_session_message(what),
        }
    }

    fn help(&self) -> &'static str {
        match self {
            Finding::BoundsOff(_) => {
                "remove it, or reset by name only what the migration itself set; allow it with \
                 `-- confiture:allow(resets-timeouts)`"
            }
            Finding::EndsIdleSession(_) => {
                "remove it: the migration's session is confiture's own, and a timeout there can \
                 only end the run; allow it with `-- confiture:allow(resets-timeouts)`"
            }
        }
    }
}

/// What the rule finds in `tokens` (one statement, no trivia) of a file, `no_transaction` or
/// not: **the** decision of C119, which `migrate up`'s warnings ask too
/// ([`timeouts_turned_off`]). In a no-transaction file, a statement setting
/// `idle_session_timeout` ([`ends_idle_session`]) is that; else one turning the bounds off
/// ([`turns_off`]).
fn finding(tokens: &[Token<'_>], no_transaction: bool) -> Option<Finding> {
    no_transaction
        .then(|| ends_idle_session(tokens).map(Finding::EndsIdleSession))
        .flatten()
        .or_else(|| turns_off(tokens).map(Finding::BoundsOff))
}

/// The rule's message for `what` (`RESET ALL`, `SET lock_timeout = 0`).
fn message(what: &str) -> String {
    format!(
        "{what} turns off the environment's lock_timeout/statement_timeout for the rest of this \
         migration: a later statement may wait for a lock (and queue other sessions' traffic \
         behind it) as long as another session holds it"
    )
}

/// The rule's message for `what` (`SET idle_session_timeout = '1ms'`) in a no-transaction
/// migration.
fn idle_session_message(what: &str) -> String {
    format!(
        "{what} in a no-transaction migration ends its own session: the server closes it \
         (FATAL 57P05) as soon as it waits that long for confiture's next statement, and every \
         run of the migration stops there"
    )
}

/// The first statement of `text` (a no-transaction migration's file, its `statements` as
/// `(range, line)`, in order) that sets the session's `idle_session_timeout` to a value the
/// server reads as a bound ([`ends_idle_session`]), as `(index, line, what)`: what a lost
/// connection the server ended for an idle session (57P05) is put down to. Only statements
/// before `before` (those the server completed) are read.
#[cfg(feature = "db")]
pub(crate) fn idle_session_ended_by<'s>(
    text: &'s str,
    statements: impl Iterator<Item = (std::ops::Range<usize>, u32)> + 's,
    before: usize,
) -> Option<(usize, u32, String)> {
    statements
        .take(before)
        .enumerate()
        .find_map(|(index, (range, line))| {
            let sql = text.get(range)?;
            if !settings::may_name(sql, IDLE_SESSION) {
                return None;
            }
            let tokens: Vec<Token<'_>> = super::lexer::tokens(sql)
                .filter(|t| !t.is_trivia())
                .collect();
            ends_idle_session(&tokens).map(|what| (index, line, what))
        })
}

/// What in `tokens` (one statement, no trivia), or in the body of a `DO` block it is, sets the
/// session's `idle_session_timeout` to a bound (a value the server reads as more than 0): in a
/// no-transaction migration, whose statements confiture sends one by one, the server ends the
/// session when it is idle that long between two of them. `SET LOCAL` and `set_config(...,
/// true)` end with the statement's own transaction, before the session is idle: not counted.
fn ends_idle_session(tokens: &[Token<'_>]) -> Option<String> {
    do_block::named_in_session(tokens, &mut ends_idle_session_alone)
}

/// [`ends_idle_session`] of one statement, not a `DO` block's body.
fn ends_idle_session_alone(tokens: &[Token<'_>]) -> Option<String> {
    let first = tokens.first()?;
    if first.is_word("ALTER") || first.is_word("CREATE") {
        return None;
    }
    settings::assignments(tokens, IDLE_SESSION)
        .into_iter()
        .find(|a| {
            !a.local
                && matches!(&a.value, Value::Text(text) if milliseconds(text).is_some_and(|ms| ms > 0.0))
        })
        .map(|a| match a.how {
            How::Set => format!("SET {IDLE_SESSION} = {}", a.written),
            How::SetConfig => format!("set_config('{IDLE_SESSION}', {})", a.written),
            How::SettingsRow => {
                format!("UPDATE pg_settings SET setting = {} ({IDLE_SESSION})", a.written)
            }
        })
}

/// The setting that ends a session idle between two statements (PostgreSQL 14+).
const IDLE_SESSION: &str = "idle_session_timeout";

/// The statements of `text` (a migration's file, `no_transaction` or not, split when it was
/// read: `statements`' spans) that C119 reports ([`finding`]), each with its line: what `migrate
/// up` says when it runs that migration. Each statement's tokens are read again; nothing is
/// split.
#[cfg(feature = "db")]
pub(crate) fn timeouts_turned_off<'s>(
    text: &'s str,
    statements: impl Iterator<Item = (std::ops::Range<usize>, u32)> + 's,
    no_transaction: bool,
) -> impl Iterator<Item = (u32, Finding)> + 's {
    statements.filter_map(move |(range, line)| {
        let sql = text.get(range)?;
        // `timeout`: a word each of the settings' names spells.
        if !(super::mentions(sql, "reset") || settings::may_name(sql, "timeout")) {
            return None;
        }
        let tokens: Vec<Token<'_>> = super::lexer::tokens(sql)
            .filter(|t| !t.is_trivia())
            .collect();
        finding(&tokens, no_transaction).map(|found| (line, found))
    })
}

/// What a statement of a migration does to a bound of its session (`lock_timeout`,
/// `statement_timeout`): [`bound_set_by`].
#[cfg(feature = "db")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BoundSet {
    /// As the statement names it: `SET statement_timeout = '50ms'`, `RESET ALL`, `... in a DO
    /// block`.
    pub what: String,
    /// The value it gives the bound.
    pub to: BoundTo,
    /// It ends with its transaction: `SET LOCAL`, `set_config(..., true)`.
    pub local: bool,
}

/// The value a statement gives a bound ([`BoundSet`]).
#[cfg(feature = "db")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BoundTo {
    /// A value the server reads as this many milliseconds (0: no bound).
    Millis(u64),
    /// Back to the session's default (`RESET`, `DEFAULT`, `set_config(name, NULL, ...)`): the
    /// database's, the role's, the connection's or the server's.
    SessionDefault,
    /// A value not read here (an expression).
    Unread,
}

/// What `sql` (one statement of a migration) does to `bound` (`lock_timeout` or
/// `statement_timeout`) for the session it runs in, itself or in the body of the `DO` block it
/// is: the reading C119 makes of it ([`turns_off`]), with the value. `None` when it does not
/// set it (also `ALTER DATABASE | ROLE ... SET`: other sessions' bounds).
#[cfg(feature = "db")]
pub(crate) fn bound_set_by(sql: &str, bound: &str) -> Option<BoundSet> {
    if !(super::mentions(sql, "reset") || settings::may_name(sql, bound)) {
        return None;
    }
    let tokens: Vec<Token<'_>> = super::lexer::tokens(sql)
        .filter(|t| !t.is_trivia())
        .collect();
    let (mut set, in_block) =
        do_block::find_in_session(&tokens, &mut |t| bound_set_alone(t, bound))?;
    if in_block {
        set.what = format!("{} in a DO block", set.what);
    }
    Some(set)
}

/// [`bound_set_by`] of one statement's `tokens` (no trivia), not a `DO` block's body.
#[cfg(feature = "db")]
fn bound_set_alone(tokens: &[Token<'_>], bound: &str) -> Option<BoundSet> {
    let first = tokens.first()?;
    if first.is_word("RESET") {
        let name = tokens.get(1)?;
        let what = if name.is_word("ALL") {
            "RESET ALL".to_string()
        } else if syntax::names(name, bound) {
            format!("RESET {bound}")
        } else {
            return None;
        };
        let to = BoundTo::SessionDefault;
        return Some(BoundSet {
            what,
            to,
            local: false,
        });
    }
    if first.is_word("ALTER") || first.is_word("CREATE") {
        return None;
    }
    let a = settings::assignments(tokens, bound).into_iter().last()?;
    let to = match &a.value {
        Value::Default => BoundTo::SessionDefault,
        Value::Text(text) => {
            milliseconds(text).map_or(BoundTo::Unread, |ms| BoundTo::Millis(ms as u64))
        }
        Value::Unknown => BoundTo::Unread,
    };
    let what = match a.how {
        How::Set => format!(
            "SET {}{bound} = {}",
            if a.local { "LOCAL " } else { "" },
            a.written
        ),
        How::SetConfig => format!("set_config('{bound}', {}, {})", a.written, a.local),
        How::SettingsRow => format!("UPDATE pg_settings SET setting = {} ({bound})", a.written),
    };
    Some(BoundSet {
        what,
        to,
        local: a.local,
    })
}

/// What in `tokens` (one statement, no trivia), or in the body of a `DO` block it is
/// ([`do_block::find_statement`]), turns a bound off, as the statement names it.
fn turns_off(tokens: &[Token<'_>]) -> Option<String> {
    do_block::named_in_session(tokens, &mut turns_off_alone)
}

/// What in `tokens` (one statement, no trivia) turns a bound off, as the statement names it.
fn turns_off_alone(tokens: &[Token<'_>]) -> Option<String> {
    let first = tokens.first()?;
    if first.is_word("RESET") {
        let name = tokens.get(1)?;
        if name.is_word("ALL") {
            return Some("RESET ALL".to_string());
        }
        let bound = BOUNDS.into_iter().find(|b| syntax::names(name, b))?;
        return Some(format!("RESET {bound}"));
    }
    // `ALTER DATABASE | ROLE | FUNCTION ... SET`, `CREATE FUNCTION ... SET`: another session's
    // bound, or a function's, not this migration's.
    if first.is_word("ALTER") || first.is_word("CREATE") {
        return None;
    }
    // Both scopes: a migration runs in one transaction, so `SET LOCAL` and
    // `set_config(..., true)` last as long as the migration, as a session `SET` does.
    BOUNDS.into_iter().find_map(|bound| {
        settings::assignments(tokens, bound)
            .into_iter()
            .find(|a| match &a.value {
                Value::Default => true,
                Value::Text(text) => milliseconds(text) == Some(0.0),
                Value::Unknown => false,
            })
            .map(|a| match a.how {
                How::Set => format!("SET {bound} = {}", a.written),
                How::SetConfig => format!("set_config('{bound}', {})", a.written),
                How::SettingsRow => {
                    format!("UPDATE pg_settings SET setting = {} ({bound})", a.written)
                }
            })
    })
}

/// The bound (in milliseconds) PostgreSQL sets `lock_timeout` or `statement_timeout` to for
/// `value`, as its `parse_int` reads an integer setting whose unit is milliseconds: an integer
/// (decimal, `0x` hex, `0` octal) or a decimal number, then an optional unit (`us`, `ms`, `s`,
/// `min`, `h`, `d`, case-sensitive), a fraction rounded to the next smaller unit, then to an
/// integer, halves to even: `'0.4ms'` is 0, off. `None` for a value the server refuses (the
/// `SET` fails and the bound stays).
fn milliseconds(value: &str) -> Option<f64> {
    let text = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (number, rest) = integer(text)
        .filter(|(_, rest)| !rest.starts_with(['.', 'e', 'E']))
        .or_else(|| decimal(text))?;
    if !number.is_finite() {
        return None;
    }
    let unit = rest.trim_matches(|c: char| c.is_ascii_whitespace());
    // PostgreSQL's table of time units, largest first; a fraction is rounded to a whole
    // number of the next one down.
    const UNITS: [(&str, f64); 6] = [
        ("d", 86_400_000.0),
        ("h", 3_600_000.0),
        ("min", 60_000.0),
        ("s", 1_000.0),
        ("ms", 1.0),
        ("us", 0.001),
    ];
    let ms = if unit.is_empty() {
        number
    } else {
        let at = UNITS.iter().position(|(u, _)| *u == unit)?;
        let value = number * UNITS[at].1;
        match UNITS.get(at + 1) {
            Some((_, smaller)) => (value / smaller).round_ties_even() * smaller,
            None => value,
        }
    };
    let ms = ms.round_ties_even();
    (0.0..=f64::from(i32::MAX))
        .contains(&ms)
        .then_some(ms.abs())
}

/// C's `strtol(text, _, 0)`: a sign, then `0x` hex, `0` octal or decimal digits; the value and
/// the rest of the text.
fn integer(text: &str) -> Option<(f64, &str)> {
    let (negative, unsigned) = sign(text);
    let (radix, digits) = if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
        .filter(|h| h.starts_with(|c: char| c.is_ascii_hexdigit()))
    {
        (16, hex)
    } else if unsigned.starts_with('0') {
        (8, unsigned)
    } else {
        (10, unsigned)
    };
    let len = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    if len == 0 {
        return None;
    }
    let value = i64::from_str_radix(&digits[..len], radix).ok()? as f64;
    Some((if negative { -value } else { value }, &digits[len..]))
}

/// C's `strtod` for decimal numbers: a sign, digits with an optional point, an optional
/// exponent; the value and the rest of the text.
fn decimal(text: &str) -> Option<(f64, &str)> {
    let (_, unsigned) = sign(text);
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let whole = digits(unsigned);
    let mut len = whole;
    if unsigned[len..].starts_with('.') {
        let fraction = digits(&unsigned[len + 1..]);
        if whole == 0 && fraction == 0 {
            return None;
        }
        len += 1 + fraction;
    } else if whole == 0 {
        return None;
    }
    if let Some(exp) = unsigned[len..].strip_prefix(['e', 'E']) {
        let (_, exp_digits) = sign(exp);
        let n = digits(exp_digits);
        if n > 0 {
            len += 1 + (exp.len() - exp_digits.len()) + n;
        }
    }
    let end = text.len() - unsigned.len() + len;
    Some((text[..end].parse().ok()?, &text[end..]))
}

/// A leading `+` or `-`: whether it was `-`, and the text after it.
fn sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{down, only, up};

    #[test]
    fn resets_and_zero_bounds_warn_in_up_and_down_files() {
        assert_eq!(up("RESET ALL;"), [("C119", 1)]);
        assert_eq!(down("reset lock_timeout;"), [("C119", 1)]);
        assert_eq!(up("RESET statement_timeout;"), [("C119", 1)]);
        assert_eq!(
            up("SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';"),
            [("C119", 1), ("C119", 2)]
        );
        let d = only("RESET ALL;");
        assert!(
            d.message.starts_with(
                "RESET ALL turns off the environment's lock_timeout/statement_timeout for the \
                 rest of this migration"
            ),
            "{}",
            d.message
        );
    }

    /// Every way of turning a bound off, and values the server reads as a bound: each value
    /// was checked against PostgreSQL 15 (`SET lock_timeout = <value>; SHOW lock_timeout`).
    #[test]
    fn every_spelling_of_a_bound_turned_off_warns_and_a_bound_kept_does_not() {
        let off = [
            "RESET ALL",
            "RESET lock_timeout",
            "reset Statement_Timeout",
            "SET lock_timeout = 0",
            "SET lock_timeout = 00",
            "SET lock_timeout = 0.0",
            "SET lock_timeout = 0.4",
            "SET lock_timeout = '0'",
            "SET lock_timeout = '0s'",
            "SET lock_timeout = '0ms'",
            "SET lock_timeout = '0.4ms'",
            "SET lock_timeout = '0.5ms'",
            "SET lock_timeout = '499us'",
            "SET lock_timeout = '0.0005s'",
            "SET lock_timeout = ' 0 min '",
            "SET lock_timeout = '0x0'",
            "SET lock_timeout = '-0'",
            "SET lock_timeout = '1e-1'",
            "SET lock_timeout = E'0'",
            "SET lock_timeout = DEFAULT",
            "SET lock_timeout TO DEFAULT",
            "SET SESSION lock_timeout TO DEFAULT",
            "SET SESSION statement_timeout = '0'",
            "SET LOCAL lock_timeout = 0",
            "SET \"lock_timeout\" = '0'",
            "SET LOCK_TIMEOUT = 0",
            "SELECT set_config('lock_timeout', '0', false)",
            "SELECT set_config('lock_timeout', '0', true)",
            "SELECT set_config('statement_timeout', '0.4ms', false)",
            "SELECT pg_catalog.set_config('lock_timeout', '0', false)",
            "select Set_Config('Lock_Timeout', NULL, false)",
            "SELECT set_config('lock_timeout', '0'::text, false), 1",
            "UPDATE pg_settings SET setting = '0' WHERE name = 'lock_timeout'",
            "UPDATE pg_settings SET setting = reset_val WHERE name = 'statement_timeout'",
            "SELECT set_config(name, '0', false) FROM pg_settings WHERE name = 'lock_timeout'",
            // Named arguments, in any order, `=>` or the older `:=`.
            "SELECT set_config(setting_name => 'statement_timeout', new_value => '0', is_local => false)",
            "SELECT set_config(is_local => true, new_value => NULL, setting_name => 'lock_timeout')",
            "SELECT set_config(setting_name := 'lock_timeout', new_value := '0', is_local := false)",
            "SELECT set_config('lock_timeout', new_value => '0'::text, is_local => false)",
            "SELECT pg_catalog.set_config(new_value => '0ms', setting_name => 'lock_timeout', is_local => false)",
            // In a DO block's body.
            "DO $$ BEGIN RESET ALL; END $$",
            "DO $$ BEGIN SET lock_timeout = 0; END $$",
            "DO $x$\nBEGIN\n  IF true THEN\n    SET LOCAL statement_timeout TO DEFAULT;\n  END IF;\nEND\n$x$",
            "DO $$ BEGIN PERFORM set_config('lock_timeout', '0', false); END $$",
            "DO $$ DECLARE v text := set_config('lock_timeout', '0', true); BEGIN END $$",
            "DO $$ BEGIN PERFORM set_config(setting_name => 'lock_timeout', new_value => '0', is_local => false); END $$",
            "DO $$ BEGIN EXECUTE 'SET statement_timeout = 0'; END $$",
            "DO $$ BEGIN EXECUTE $q$RESET lock_timeout$q$; END $$",
            "DO LANGUAGE plpgsql 'BEGIN RESET ALL; END'",
        ];
        for sql in off {
            assert_eq!(up(&format!("{sql};")), [("C119", 1)], "{sql}");
        }
        let kept = [
            "RESET search_path",
            "SET lock_timeout = '5s'",
            "SET lock_timeout = 100",
            "SET lock_timeout = 0.6",
            "SET lock_timeout = '0.6ms'",
            "SET lock_timeout = '1499us'",
            "SET lock_timeout = '0.001s'",
            "SET statement_timeout TO '10min'",
            // Refused by the server: the bound stays.
            "SET lock_timeout = '0MS'",
            "SET lock_timeout = 'DEFAULT'",
            "SET lock_timeout = '08'",
            "SET idle_session_timeout = 0",
            "SELECT set_config('lock_timeout', '5s', false)",
            "SELECT set_config('idle_session_timeout', '0', false)",
            "SELECT f('lock_timeout', '0', false)",
            "SELECT set_config(setting_name => 'lock_timeout', new_value => '5s', is_local => false)",
            "SELECT set_config('lock_timeout', '0' || '1', false)",
            "DO $$ BEGIN SET lock_timeout = '5s'; RAISE NOTICE 'RESET ALL'; END $$",
            "DO $$ BEGIN EXECUTE format('SET lock_timeout = %s', 0); END $$",
            "DO LANGUAGE plperl $$ spi_exec_query('RESET ALL') $$",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN RESET ALL; END $$",
            "SELECT lock_timeout = 0 FROM t",
            // Another session's bound, or a function's.
            "ALTER DATABASE app SET lock_timeout = 0",
            "ALTER ROLE app SET statement_timeout = 0",
            "ALTER FUNCTION f() SET lock_timeout = 0",
            "SELECT 'RESET ALL'",
            "SELECT 'SET lock_timeout = 0'",
            "-- RESET ALL\nSELECT 1",
        ];
        for sql in kept {
            assert_eq!(up(&format!("{sql};")), [], "{sql}");
        }
    }

    /// In a no-transaction migration, `idle_session_timeout` set for the session to a bound
    /// ends the session between two statements; `0`, a local value, a transactional file do
    /// not.
    #[test]
    fn an_idle_session_timeout_in_a_no_transaction_migration_warns() {
        let no_tx = |sql: &str| {
            super::super::test_support::up(&format!(
                "-- confiture:no-transaction\n-- confiture:allow(no-transaction-multiple-statements)\n{sql};\nCREATE INDEX CONCURRENTLY i ON t (a);\n"
            ))
            .into_iter()
            .filter(|(code, _)| *code != "C102")
            .collect::<Vec<_>>()
        };
        for sql in [
            "SET idle_session_timeout = '1ms'",
            "SET idle_session_timeout = 1",
            "SET SESSION idle_session_timeout TO '10min'",
            "SELECT set_config('idle_session_timeout', '1ms', false)",
            "SELECT pg_catalog.set_config(setting_name => 'idle_session_timeout', new_value => '5', is_local => false)",
            "UPDATE pg_settings SET setting = '1' WHERE name = 'idle_session_timeout'",
            "DO $$ BEGIN PERFORM set_config('idle_session_timeout', '1ms', false); END $$",
            "DO $$ BEGIN EXECUTE 'SET idle_session_timeout = 1'; END $$",
        ] {
            assert_eq!(no_tx(sql), [("C119", 3)], "{sql}");
        }
        for sql in [
            "SET idle_session_timeout = 0",
            "SET idle_session_timeout = '0.4ms'",
            "SET idle_session_timeout = DEFAULT",
            "SET LOCAL idle_session_timeout = '1ms'",
            "SELECT set_config('idle_session_timeout', '1ms', true)",
            "ALTER ROLE app SET idle_session_timeout = '1ms'",
            "SET idle_in_transaction_session_timeout = '1ms'",
            "SELECT 'SET idle_session_timeout = 1'",
        ] {
            assert_eq!(no_tx(sql), [], "{sql}");
        }
        // A transactional migration is sent in one message, followed by a `RESET ALL`.
        assert_eq!(
            up("SET idle_session_timeout = '1ms';\nCREATE TABLE t (a int);"),
            []
        );
        let d = super::super::check_sql(
            std::path::Path::new("m.sql"),
            "-- confiture:no-transaction\nSET idle_session_timeout = '1ms';\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
            crate::files::Direction::Up,
        );
        let d = d.iter().find(|d| d.code == "C119").expect("C119");
        assert!(
            d.message.starts_with(
                "SET idle_session_timeout = '1ms' in a no-transaction migration ends its own session"
            ),
            "{}",
            d.message
        );
    }

    /// `migrate up`'s reading after a lost connection: the first completed statement that
    /// set it, by index and line.
    #[cfg(feature = "db")]
    #[test]
    fn the_statement_that_ended_an_idle_session_is_found_among_those_completed() {
        let text = "CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT set_config('idle_session_timeout', '1ms', false);\nCREATE INDEX CONCURRENTLY j ON t (a);\n";
        let split = crate::files::lexer::split(text);
        let spans = || split.statements.iter().map(|s| (s.range.clone(), s.line));
        let found = super::idle_session_ended_by(text, spans(), 3);
        assert_eq!(
            found,
            Some((
                1,
                2,
                "set_config('idle_session_timeout', '1ms')".to_string()
            ))
        );
        assert_eq!(super::idle_session_ended_by(text, spans(), 1), None);
    }

    /// Columns named like the bounds: the `SET` of an `UPDATE`, of `ON CONFLICT DO UPDATE` and
    /// of `MERGE ... UPDATE` assigns them. Lint's check (in a file that mentions `set_config`
    /// or `pg_settings`, whose statements it reads) and `migrate up`'s warnings
    /// ([`super::turns_off`], every statement that mentions a timeout) both keep quiet.
    #[test]
    fn a_column_named_like_a_bound_is_not_a_bound() {
        for bound in super::BOUNDS {
            for sql in [
                format!("UPDATE jobs SET {bound} = 0 WHERE kind = 'pg_settings'"),
                format!("UPDATE jobs SET done = true, {bound} = DEFAULT WHERE note = 'set_config'"),
                format!(
                    "INSERT INTO jobs (id, {bound}) SELECT 1, 0 FROM pg_settings \
                     ON CONFLICT (id) DO UPDATE SET {bound} = 0"
                ),
                format!(
                    "MERGE INTO jobs j USING pg_settings s ON j.name = s.name \
                     WHEN MATCHED THEN UPDATE SET {bound} = '0'"
                ),
            ] {
                assert_eq!(up(&format!("{sql};")), [], "{sql}");
                let tokens: Vec<_> = crate::files::lexer::tokens(&sql)
                    .filter(|t| !t.is_trivia())
                    .collect();
                assert_eq!(super::turns_off(&tokens), None, "{sql}");
            }
        }
    }

    /// A bound named or valued by a constant quoted any way (`test_support::quoted`), or by an
    /// escaped identifier: lint, `migrate up`'s warnings and the engine's reading of a bound
    /// all read it, none put off by a name its text does not spell.
    #[cfg(feature = "db")]
    #[test]
    fn a_bound_named_or_valued_by_any_quoting_is_read_everywhere() {
        use crate::files::rules::test_support::quoted;
        for bound in super::BOUNDS {
            let (first, rest) = bound.split_at(1);
            let code = u32::from(first.as_bytes()[0]);
            let mut statements: Vec<String> = (quoted(bound).iter())
                .map(|name| format!("SELECT set_config({name}, '0', false);"))
                .chain(
                    quoted("0")
                        .iter()
                        .map(|zero| format!("SET {bound} = {zero};")),
                )
                .collect();
            statements.push(format!("SET U&\"\\{code:04x}{rest}\" = 0;"));
            statements.push(format!(
                "DO $$ BEGIN EXECUTE E'SET \\x{code:02x}{rest} = 0'; END $$;"
            ));
            for sql in statements {
                assert_eq!(up(&sql), [("C119", 1)], "{sql}");
                let split = crate::files::lexer::split(&sql);
                let spans = || split.statements.iter().map(|s| (s.range.clone(), s.line));
                assert_eq!(
                    super::timeouts_turned_off(&sql, spans(), false).count(),
                    1,
                    "{sql}"
                );
                let set = super::bound_set_by(&sql, bound).map(|s| s.to);
                assert_eq!(set, Some(super::BoundTo::Millis(0)), "{sql}");
            }
        }
        let ends = "SELECT set_config(E'idle_\\x73ession_timeout', '1ms', false);";
        let split = crate::files::lexer::split(ends);
        let spans = || split.statements.iter().map(|s| (s.range.clone(), s.line));
        assert!(
            super::idle_session_ended_by(ends, spans(), 1).is_some(),
            "{ends}"
        );
    }

    /// `migrate up`'s warnings read the same statements as lint, a `DO` block's body included.
    #[cfg(feature = "db")]
    #[test]
    fn migrate_up_names_a_do_block_that_turns_a_bound_off() {
        let text = "CREATE TABLE t (a int);\nDO $$ BEGIN RESET ALL; END $$;\n";
        let split = crate::files::lexer::split(text);
        let found: Vec<_> = super::timeouts_turned_off(
            text,
            split.statements.iter().map(|s| (s.range.clone(), s.line)),
            false,
        )
        .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 2);
        assert!(
            found[0]
                .1
                .message()
                .starts_with("RESET ALL in a DO block turns off"),
            "{found:?}"
        );
    }

    #[test]
    fn the_message_names_the_statement_as_written() {
        let d = only("SELECT set_config('lock_timeout', '0', false);");
        assert!(
            d.message
                .starts_with("set_config('lock_timeout', '0') turns off"),
            "{}",
            d.message
        );
        let d = only("SET lock_timeout = '0.4ms';");
        assert!(
            d.message
                .starts_with("SET lock_timeout = '0.4ms' turns off"),
            "{}",
            d.message
        );
    }

    /// What a statement gives a bound, for the engine's help of a timeout: the value, `RESET`
    /// and `DEFAULT` as the session's default, in both scopes and in a `DO` block, never
    /// another session's (`ALTER DATABASE ... SET`) or a column.
    #[cfg(feature = "db")]
    #[test]
    fn what_a_statement_gives_a_bound_is_read_with_its_value() {
        use super::{bound_set_by, BoundTo};
        let to = |sql: &str| bound_set_by(sql, "statement_timeout").map(|s| (s.to, s.local));
        assert_eq!(
            to("SET statement_timeout = '50ms';"),
            Some((BoundTo::Millis(50), false))
        );
        assert_eq!(
            to("SET LOCAL statement_timeout TO 2000;"),
            Some((BoundTo::Millis(2000), true))
        );
        assert_eq!(
            to("SELECT pg_catalog.set_config('statement_timeout', '1s', true);"),
            Some((BoundTo::Millis(1000), true))
        );
        assert_eq!(
            to("RESET statement_timeout;"),
            Some((BoundTo::SessionDefault, false))
        );
        assert_eq!(to("RESET ALL;"), Some((BoundTo::SessionDefault, false)));
        assert_eq!(
            to("SET statement_timeout TO DEFAULT;"),
            Some((BoundTo::SessionDefault, false))
        );
        assert_eq!(
            to("SELECT set_config('statement_timeout', x, false) FROM t;"),
            Some((BoundTo::Unread, false))
        );
        assert_eq!(
            to("DO $$ BEGIN SET statement_timeout = '5s'; END $$;"),
            Some((BoundTo::Millis(5000), false))
        );
        assert_eq!(
            bound_set_by(
                "DO $$ BEGIN SET statement_timeout = '5s'; END $$;",
                "statement_timeout"
            )
            .map(|s| s.what),
            Some("SET statement_timeout = '5s' in a DO block".to_string())
        );
        for none in [
            "ALTER DATABASE d SET statement_timeout = '1s';",
            "UPDATE t SET statement_timeout = 0;",
            "RESET lock_timeout;",
            "SET lock_timeout = '1s';",
            "SELECT 1;",
        ] {
            assert_eq!(to(none), None, "{none}");
        }
        assert_eq!(
            bound_set_by("SET lock_timeout = '1s';", "lock_timeout").map(|s| s.to),
            Some(BoundTo::Millis(1000))
        );
    }
}
