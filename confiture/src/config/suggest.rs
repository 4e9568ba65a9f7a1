//! Did-you-mean for keys, parameters and environment names: `text::did_you_mean`'s one rule.

/// The known word closest to `word`, if it is close enough to be a misspelling.
pub(super) fn closest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    crate::text::did_you_mean(word, known.iter().copied())
}
