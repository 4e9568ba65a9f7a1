//! Small text helpers with one owner each: "did you mean", the line and column of a byte
//! offset, and the UTF-8 byte-order mark. Every suggester, locator and reader of file text calls
//! these, so that the same typo gets the same suggestion everywhere and a column means one thing.

/// The UTF-8 byte-order mark. confiture keeps it in a file's text (the checksum covers the raw
/// bytes) and leaves it out of SQL sent to the server and of columns.
pub const BOM: char = '\u{feff}';

/// The length in bytes of the byte-order mark `text` starts with: 3, or 0 without one.
pub fn bom_len(text: &str) -> usize {
    bom_len_of_bytes(text.as_bytes())
}

/// [`bom_len`] of bytes not yet known to be UTF-8 (a `.env` file).
pub fn bom_len_of_bytes(bytes: &[u8]) -> usize {
    let mut mark = [0; 3];
    let mark = BOM.encode_utf8(&mut mark).as_bytes();
    if bytes.starts_with(mark) {
        mark.len()
    } else {
        0
    }
}

/// `text` without a leading byte-order mark. PostgreSQL rejects one (`syntax error at or near
/// "\u{feff}SELECT"`); the checksum keeps the mark.
pub fn without_bom(text: &str) -> &str {
    &text[bom_len(text)..]
}

/// The 1-based line on which byte `offset` of `bytes` stands (an offset past the end counts
/// as the end). Lines end as [`is_line_break`] says: at a LF, and at a lone CR.
pub fn line_of(bytes: &[u8], offset: usize) -> u32 {
    let breaks = count_line_breaks(bytes, 0..offset.min(bytes.len()));
    u32::try_from(breaks).unwrap_or(u32::MAX - 1) + 1
}

/// The 1-based line and column of byte `offset` of `text`, as rustc counts them: the column
/// counts characters (a tab is one), and a byte-order mark at the start of the text takes
/// none. An offset inside a character counts from that character; past the end, the end.
/// Lines end as [`is_line_break`] says.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    Locator::new(text).line_col(offset)
}

/// Whether byte `at` of `bytes` ends a line: a LF, or a CR not followed by a LF (a lone CR,
/// as classic Mac OS wrote line endings). The one rule of where a line ends, the server's:
/// PostgreSQL's scanner ends a line (and a `--` comment) at either, libpq turns an error
/// position into psql's `LINE n` so, and the lexer reads it so. A CRLF is one line break, at
/// its LF: its CR stands on the line it ends.
pub fn is_line_break(bytes: &[u8], at: usize) -> bool {
    match bytes.get(at) {
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(at + 1) != Some(&b'\n'),
        _ => false,
    }
}

/// Where the line of byte `offset` of `bytes` starts: after the last line break before it
/// ([`is_line_break`]), or 0.
pub fn line_start(bytes: &[u8], offset: usize) -> usize {
    let offset = offset.min(bytes.len());
    (bytes[..offset].iter().enumerate().rev())
        .find(|&(at, &b)| (b == b'\n' || b == b'\r') && is_line_break(bytes, at))
        .map_or(0, |(at, _)| at + 1)
}

/// Where the line holding byte `from` of `bytes` ends: at its line break (a CRLF's CR), or at
/// the end of `bytes`.
pub fn line_end(bytes: &[u8], from: usize) -> usize {
    let from = from.min(bytes.len());
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(bytes.len(), |at| from + at)
}

/// Line `n` (1-based) of `bytes`, without its line break, as [`line_of`] counts lines; `None`
/// past the last line, and for the nothing after a text's last line break (as an editor
/// shows no line there).
pub fn line_range(bytes: &[u8], n: u32) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    for _ in 1..n {
        let end = line_end(bytes, start);
        if end == bytes.len() {
            return None;
        }
        // The break: a CRLF's two bytes, else one.
        start = end
            + if bytes[end..].starts_with(b"\r\n") {
                2
            } else {
                1
            };
    }
    (n >= 1 && start < bytes.len()).then(|| start..line_end(bytes, start))
}

/// `text` with every line break ([`is_line_break`]: a CRLF, a lone CR, a LF) written LF.
pub fn with_lf_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// [`line_of`] and [`line_col`] for many offsets of one text: it moves from the previous
/// offset, counting only the bytes between, so that offsets visited mostly in order cost
/// what one pass over the text costs.
#[derive(Debug, Clone)]
pub struct Locator<'a> {
    text: &'a str,
    pos: usize,
    line: u32,
}

impl<'a> Locator<'a> {
    /// A locator at the start of `text`.
    pub fn new(text: &'a str) -> Locator<'a> {
        Locator {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte `offset` (past the end: the end).
    pub fn line_at(&mut self, offset: usize) -> u32 {
        let bytes = self.text.as_bytes();
        let offset = offset.min(bytes.len());
        let moved = |range: std::ops::Range<usize>| {
            u32::try_from(count_line_breaks(bytes, range)).unwrap_or(u32::MAX)
        };
        if offset >= self.pos {
            self.line = self.line.saturating_add(moved(self.pos..offset));
        } else {
            self.line = self.line.saturating_sub(moved(offset..self.pos));
        }
        self.pos = offset;
        self.line
    }

    /// The 1-based line and column of byte `offset`, as [`line_col`] counts them.
    pub fn line_col(&mut self, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_at(offset);
        let line_start = line_start(self.text.as_bytes(), offset);
        let line_start = line_start.max(bom_len(self.text).min(offset));
        let column = self.text[line_start..offset].chars().count();
        (line, u32::try_from(column).unwrap_or(u32::MAX - 1) + 1)
    }
}

/// The line breaks ([`is_line_break`]) among bytes `range` of `bytes`: its LFs and its lone
/// CRs (a CR at the end of the range is lone unless the byte after the range is a LF).
pub fn count_line_breaks(bytes: &[u8], range: std::ops::Range<usize>) -> usize {
    let start = range.start;
    let within = &bytes[range];
    let lf = count_newlines(within);
    if !within.contains(&b'\r') {
        return lf;
    }
    let lone_cr = (within.iter().enumerate())
        .filter(|&(at, &b)| b == b'\r' && is_line_break(bytes, start + at))
        .count();
    lf + lone_cr
}

/// Counts `\n` bytes. Summing into a byte per chunk lets the compiler use one SIMD lane per
/// byte; counting into `usize` directly is several times slower.
pub fn count_newlines(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|chunk| usize::from(chunk.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n'))))
        .sum()
}

/// The ASCII letters, digits and `_` that `text` holds, in any case, as a set ([`may_spell`]):
/// made once for a file, it tells without searching that the file cannot spell most words it
/// is asked about (a `DELETE` has no `g` for `set_config`, no `y` for `system`).
pub(crate) fn spelled_with(text: &str) -> u64 {
    text.bytes()
        .fold(0, |set, b| set | SPELLING_BITS[usize::from(b)])
}

/// [`spelling_bit`] of every byte, looked up: a file's every byte goes through it.
static SPELLING_BITS: [u64; 256] = {
    let mut bits = [0; 256];
    let mut b = 0;
    while b < 256 {
        bits[b] = spelling_bit(b as u8);
        b += 1;
    }
    bits
};

/// Whether a text holding the characters `spelled` ([`spelled_with`]) may spell `word` in any
/// ASCII case: `false` only when one of the word's letters, digits or `_` is not there. A word
/// with another character is not decided here (`true`).
pub(crate) fn may_spell(spelled: u64, word: &str) -> bool {
    word.bytes().all(|b| match spelling_bit(b) {
        0 => true,
        bit => spelled & bit != 0,
    })
}

/// `b`'s bit in a [`spelled_with`] set: one per ASCII letter (either case), digit and `_`;
/// 0 for any other byte.
const fn spelling_bit(b: u8) -> u64 {
    match b.to_ascii_lowercase() {
        c @ b'a'..=b'z' => 1 << (c - b'a'),
        c @ b'0'..=b'9' => 1 << (26 + c - b'0'),
        b'_' => 1 << 36,
        _ => 0,
    }
}

/// Up to this many bytes, [`mentions`] compares at every position: less work than lowering a
/// copy of the text.
pub(crate) const COMPARED_IN_PLACE: usize = 512;

/// Whether `text` spells `word` anywhere, ASCII letters compared in any case (the word's
/// too). How the linter and the engine learn, without parsing, that a file cannot contain
/// something. A long text is lowered once and searched (a comparison at every position took
/// seconds on a 50 MB migration); a short one — most statements, most files — is compared in
/// place, without allocating a lowered copy (thousands of them for a directory's files).
pub fn mentions(text: &str, word: &str) -> bool {
    let (haystack, needle) = (text.as_bytes(), word.as_bytes());
    if haystack.len() > COMPARED_IN_PLACE {
        return text
            .to_ascii_lowercase()
            .contains(&word.to_ascii_lowercase());
    }
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let Some(last_start) = haystack.len().checked_sub(needle.len()) else {
        return false;
    };
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    // Each place the first letter is, in either case; the rest compared there only.
    let mut from = 0;
    while let Some(found) = haystack
        .get(from..=last_start)
        .and_then(|tail| tail.iter().position(|&b| b == lower || b == upper))
    {
        let start = from + found;
        let after = haystack.get(start + 1..start + needle.len());
        if after.is_some_and(|after| after.eq_ignore_ascii_case(rest)) {
            return true;
        }
        from = start + 1;
    }
    false
}

/// The candidate closest to `word` when it is close enough to be a plausible typo: the one
/// rule behind every "did you mean" (environment names, workspace and environment-file keys,
/// connection parameters, markers, rule names).
///
/// Letters are compared ASCII case-insensitively and `-` equals `_` (`lock-timeout` finds
/// `lock_timeout`, `no_transaction` finds `no-transaction`). An edit is one character inserted,
/// deleted or replaced, or two neighbours swapped (`hots` → `host`). Allowed: 1 edit for a word
/// of up to 4 characters, 2 up to 10, 3 beyond. The first of equally close candidates wins;
/// an empty word gets no suggestion.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let word = normalized(word);
    let limit = match word.len() {
        0 => return None,
        1..=4 => 1,
        5..=10 => 2,
        _ => 3,
    };
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &normalized(c)), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// The candidate closest to `name` ([`did_you_mean`]) among the names of objects of one
/// server — databases, tenant schemas — when it is what a misspelt `name` meant. A name that
/// differs from `name` only in its numbers is never close: numbers are how a series is told
/// apart (`tenant_4` beside `tenant_1` to `tenant_3`, `ci_42` beside `ci_41`), a new one of the
/// series no misspelling of another (`numbered_alike`), nor of any name: `tenant_2` beside
/// `tenant_1` and `tenant_b` is the next of its series.
pub fn close_name<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let candidates: Vec<&'c str> = candidates.into_iter().collect();
    if candidates
        .iter()
        .any(|candidate| numbered_alike(name, candidate))
    {
        return None;
    }
    did_you_mean(name, candidates)
}

/// Whether `a` and `b` are two names of one numbered series: the same but for their runs of
/// ASCII digits (`tenant_4`, `tenant_12`; `app_2024_q1`, `app_2025_q3`), each run at the same
/// place. `tenant` and `tenant_2`, or `shop1` and `shopx`, are not.
fn numbered_alike(a: &str, b: &str) -> bool {
    /// The name with each run of digits as one `None`.
    fn skeleton(name: &str) -> Vec<Option<char>> {
        let mut out: Vec<Option<char>> = Vec::with_capacity(name.len());
        for c in name.chars() {
            match c.is_ascii_digit() {
                true if out.last() == Some(&None) => {}
                true => out.push(None),
                false => out.push(Some(c)),
            }
        }
        out
    }
    a != b && a.bytes().any(|c| c.is_ascii_digit()) && skeleton(a) == skeleton(b)
}

/// The candidate sharing the most words with `word`, for a name too far from every candidate
/// for [`did_you_mean`] (`create-index-non-concurent` finds `index-without-concurrently`).
///
/// Words are split at `-` and `_`. Two words match when [`did_you_mean`] pairs them or when
/// both have at least 4 letters and start with the same 4 (`concurent`, `concurrently`). The
/// candidate matching most of `word`'s words wins, the first of equals; none when no word
/// matches.
pub fn sharing_words<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    fn words(s: &str) -> impl Iterator<Item = &str> {
        s.split(['-', '_']).filter(|w| !w.is_empty())
    }
    fn stem(w: &str) -> Option<Vec<char>> {
        let w = normalized(w);
        (w.len() >= 4).then(|| w[..4].to_vec())
    }
    let matches = |a: &str, b: &str| {
        did_you_mean(a, [b]).is_some() || stem(a).is_some_and(|s| stem(b) == Some(s))
    };
    let mut best = None;
    for candidate in candidates {
        let shared = words(word)
            .filter(|w| words(candidate).any(|c| matches(w, c)))
            .count();
        if shared > 0 && best.is_none_or(|(most, _)| shared > most) {
            best = Some((shared, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn normalized(s: &str) -> Vec<char> {
    s.chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// Edit distance counting a swap of two neighbours as one edit (optimal string alignment).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Three rows of the full table: two back for a swap, one back, and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(a: &str, b: &str) -> usize {
        edit_distance(&normalized(a), &normalized(b))
    }

    /// A word the set of a text's characters rules out is one [`mentions`] does not find in
    /// it, in any case; the set never rules out a word the text spells.
    #[test]
    fn may_spell_rules_out_only_words_a_text_cannot_spell() {
        let texts = [
            "DELETE FROM bench_rows WHERE id = 7;\n",
            "SELECT Set_Config('a', 'b', true);",
            "ALTER SYSTEM SET x = 1; -- é",
            "",
            "\u{feff}INSERT INTO t_9 VALUES ('ü');",
        ];
        let words = [
            "set_config",
            "system",
            "SYSTEM",
            "pg_settings",
            "tb_confiture",
            "t_9",
            "from",
            "é",
            "",
            "transaction",
        ];
        for text in texts {
            let spelled = spelled_with(text);
            for word in words {
                if mentions(text, word) {
                    assert!(may_spell(spelled, word), "{text:?} {word:?}");
                }
            }
        }
        let delete = spelled_with(texts[0]);
        assert!(!may_spell(delete, "set_config") && !may_spell(delete, "system"));
        assert!(may_spell(delete, "WHERE") && may_spell(delete, "bench_rows"));
        assert!(!may_spell(spelled_with("ALTER SYSTEM"), "t_9"));
    }

    /// Short texts are compared in place, long ones lowered and searched: the same answers.
    #[test]
    fn mentions_finds_a_word_in_any_ascii_case_in_short_and_long_texts() {
        for pad in [0, COMPARED_IN_PLACE] {
            let filler = "é".repeat(pad / 2);
            let within = |s: &str| format!("{filler}{s}{filler}");
            assert!(mentions(&within("x RETURNING y"), "returning"));
            assert!(mentions(&within("SELECT Set_Config()"), "set_config"));
            assert!(mentions(
                &within("DELETE FROM tb_confiture"),
                "TB_Confiture"
            ));
            assert!(mentions(&within("returning"), "returning"));
            assert!(mentions(&within("ab"), ""));
            assert!(!mentions(&within("x RETURNIN y"), "returning"));
            assert!(
                !mentions(&within("RETURNİNG"), "returning"),
                "not Unicode folding"
            );
            assert!(!mentions(&within("éa"), "ea"));
        }
        assert!(!mentions("ret", "returning"), "a word longer than the text");
        assert!(mentions("ÉCOLE", "École".to_ascii_uppercase().as_str()));
        assert!(
            !mentions("école", "ÉCOLE"),
            "non-ASCII letters compared exactly"
        );
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_replacements_and_swaps() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("host", "host"), 0);
        assert_eq!(distance("hots", "host"), 1);
        assert_eq!(distance("hst", "host"), 1);
        assert_eq!(distance("hoost", "host"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ca", "abc"), 3);
        assert_eq!(distance("Lock-Timeout", "lock_timeout"), 0);
    }

    /// N19: a rule name misspelled beyond `did_you_mean`'s reach still finds the rule whose
    /// words it shares.
    #[test]
    fn sharing_words_finds_the_candidate_with_most_words_in_common() {
        let rules = [
            "not-null-without-default",
            "index-without-concurrently",
            "drop-table",
        ];
        assert_eq!(
            sharing_words("create-index-non-concurent", rules),
            Some("index-without-concurrently")
        );
        assert_eq!(sharing_words("DROP_TABLES", rules), Some("drop-table"));
        assert_eq!(
            sharing_words("non-null", rules),
            Some("not-null-without-default")
        );
        assert_eq!(sharing_words("vacuum", rules), None);
        assert_eq!(sharing_words("", rules), None);
    }

    #[test]
    fn a_close_name_is_never_another_of_a_numbered_series() {
        assert_eq!(close_name("tenat_b", ["tenant_b", "x"]), Some("tenant_b"));
        assert_eq!(close_name("tenant_4", ["tenant_1", "tenant_3"]), None);
        assert_eq!(close_name("tenant_2", ["tenant_b", "tenant_1"]), None);
        assert_eq!(close_name("tenant_2", ["tenant_b"]), Some("tenant_b"));
        assert_eq!(close_name("zzz", ["tenant_b"]), None);
    }

    #[test]
    fn did_you_mean_is_one_rule_for_every_kind_of_name() {
        // Workspace keys, environment keys, markers, rule names: the same typo, the same answer.
        let keys = [
            "migrations_dir",
            "environments_dir",
            "default_env",
            "first_version",
        ];
        assert_eq!(did_you_mean("first-version", keys), Some("first_version"));
        assert_eq!(did_you_mean("defualt_env", keys), Some("default_env"));
        assert_eq!(did_you_mean("colour", keys), None);
        let directives = ["no-transaction", "irreversible", "allow"];
        assert_eq!(
            did_you_mean("no_transaction", directives),
            Some("no-transaction")
        );
        assert_eq!(
            did_you_mean("irreversable", directives),
            Some("irreversible")
        );
        assert_eq!(did_you_mean("alow", directives), Some("allow"));
        assert_eq!(did_you_mean("vacuum", directives), None);
        let rules = ["drop-table", "drop-column", "rename-table"];
        assert_eq!(did_you_mean("drop_tabel", rules), Some("drop-table"));
        assert_eq!(did_you_mean("DROP-COLUMNS", rules), Some("drop-column"));
        assert_eq!(did_you_mean("hots", ["host", "port"]), Some("host"));
        assert_eq!(did_you_mean("prod", ["dev", "staging"]), None);
        assert_eq!(did_you_mean("stagign", ["dev", "staging"]), Some("staging"));
        assert_eq!(did_you_mean("x", std::iter::empty()), None);
        assert_eq!(did_you_mean("", ["a", "bc"]), None);
    }

    #[test]
    fn the_limit_grows_with_the_word() {
        assert_eq!(did_you_mean("abcd", ["abxy"]), None);
        assert_eq!(did_you_mean("abcd", ["abcx"]), Some("abcx"));
        assert_eq!(
            did_you_mean("abcdefghij", ["abcdefghxy"]),
            Some("abcdefghxy")
        );
        assert_eq!(did_you_mean("abcdefghij", ["abcdefgxyz"]), None);
        assert_eq!(
            did_you_mean("abcdefghijk", ["abcdefghxyz"]),
            Some("abcdefghxyz")
        );
        // The first of equally close candidates.
        assert_eq!(did_you_mean("cat", ["bat", "hat"]), Some("bat"));
    }

    #[test]
    fn lines_and_columns_count_characters_from_one() {
        let text = "SELECT 1;\n\tcafé;\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 7), (1, 8));
        assert_eq!(line_col(text, 9), (1, 10));
        assert_eq!(line_col(text, 10), (2, 1));
        assert_eq!(line_col(text, 11), (2, 2));
        // After `é` (two bytes): one column.
        assert_eq!(line_col(text, text.rfind(';').unwrap()), (2, 6));
        // Inside `é`: the character's column.
        let e = text.find('é').unwrap();
        assert_eq!(line_col(text, e + 1), (2, 5));
        assert_eq!(line_col(text, text.len()), (3, 1));
        assert_eq!(line_col(text, usize::MAX), (3, 1));
        assert_eq!(line_of(text.as_bytes(), 10), 2);
        assert_eq!(line_of(b"", 5), 1);
    }

    /// A lone CR (`\r` not followed by `\n`) ends a line, as PostgreSQL's scanner, libpq's
    /// error position (psql's `LINE n`) and the lexer read it; a CRLF is one line break, at its
    /// LF (its CR stands on the line it ends).
    #[test]
    fn a_lone_cr_ends_a_line_and_a_crlf_is_one_break() {
        let text = "SELECT 1;\rSELECT 2;\r\nSELECT 3;\n\rx\r";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(line_col(text, at("SELECT 1")), (1, 1));
        assert_eq!(line_col(text, at("\rSELECT 2")), (1, 10));
        assert_eq!(line_col(text, at("SELECT 2")), (2, 1));
        // A CRLF: its CR and its LF stand on the line they end.
        assert_eq!(line_col(text, at("\r\n")), (2, 10));
        assert_eq!(line_col(text, at("\nSELECT 3")), (2, 11));
        assert_eq!(line_col(text, at("SELECT 3")), (3, 1));
        // A LF then a lone CR: two breaks, an empty line between.
        assert_eq!(line_col(text, at("\rx")), (4, 1));
        assert_eq!(line_col(text, at("x")), (5, 1));
        assert_eq!(line_col(text, text.len()), (6, 1));
        for (offset, _) in text.char_indices() {
            assert_eq!(
                line_of(text.as_bytes(), offset),
                line_col(text, offset).0,
                "{offset}"
            );
        }
        assert_eq!(line_of(b"a\rb", 2), 2);
        assert_eq!(line_of(b"a\r", 2), 2);
        assert_eq!(line_of(b"a\r\n", 2), 1);
        // After a byte-order mark and a lone CR, the column counts from the CR.
        assert_eq!(line_col("\u{feff}\rab", 5), (2, 2));
        // Line `n`'s text, without its line break, as the lines are counted.
        let lines: Vec<_> = (1..=7)
            .map(|n| line_range(text.as_bytes(), n).map(|r| &text[r]))
            .collect();
        assert_eq!(
            lines,
            [
                Some("SELECT 1;"),
                Some("SELECT 2;"),
                Some("SELECT 3;"),
                Some(""),
                Some("x"),
                None,
                None
            ]
        );
        assert_eq!(line_range(b"a\r\nb", 2), Some(3..4));
        assert_eq!(line_range(b"a", 0), None);
    }

    #[test]
    fn a_locator_moves_both_ways_over_every_line_ending() {
        let text = "a\rbb\r\n\u{feff}c\n\rcc\r\r\n\n".repeat(50);
        let mut locator = Locator::new(&text);
        let mut offsets: Vec<usize> = (0..=text.len()).step_by(3).collect();
        offsets.extend((0..text.len()).rev().step_by(2));
        for offset in offsets {
            let mut from_start = Locator::new(&text);
            let fresh = from_start.line_col(offset);
            assert_eq!(locator.line_col(offset), fresh, "offset {offset}");
            assert_eq!(locator.line_at(offset), fresh.0, "offset {offset}");
        }
        // 7 breaks a repetition: 3 lone CRs, 2 CRLFs, 2 more LFs.
        assert_eq!(line_of(text.as_bytes(), text.len()), 1 + 7 * 50);
    }

    #[test]
    fn a_byte_order_mark_takes_no_column() {
        let text = "\u{feff}SELECT 1;\nx";
        assert_eq!(bom_len(text), 3);
        assert_eq!(without_bom(text), "SELECT 1;\nx");
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (1, 1));
        assert_eq!(line_col(text, 10), (1, 8));
        assert_eq!(line_col(text, text.len() - 1), (2, 1));
        // Only at the start: elsewhere it is a character like any other.
        assert_eq!(bom_len("a\u{feff}"), 0);
        assert_eq!(without_bom("a\u{feff}"), "a\u{feff}");
        assert_eq!(line_col("a\u{feff}b", 4), (1, 3));
    }

    #[test]
    fn a_locator_moves_both_ways() {
        let text = "a\nbb\n\u{feff}ccc\n".repeat(300);
        let mut locator = Locator::new(&text);
        let mut offsets: Vec<usize> = (0..=text.len()).step_by(7).collect();
        offsets.extend((0..text.len()).rev().step_by(5));
        offsets.push(usize::MAX);
        for offset in offsets {
            let at = offset.min(text.len());
            let mut from_start = at;
            while !text.is_char_boundary(from_start) {
                from_start -= 1;
            }
            let line = 1 + text[..from_start].matches('\n').count() as u32;
            let column = 1 + text[..from_start]
                .rsplit('\n')
                .next()
                .map_or(0, |l| l.chars().count()) as u32;
            assert_eq!(locator.line_col(offset), (line, column), "offset {offset}");
            assert_eq!(locator.line_at(offset), line_of(text.as_bytes(), offset));
        }
    }

    #[test]
    fn newlines_are_counted_in_long_inputs() {
        let text = "a\n".repeat(1000);
        assert_eq!(count_newlines(text.as_bytes()), 1000);
        assert_eq!(line_of(text.as_bytes(), text.len()), 1001);
    }
}
