//! `${VAR}` and `${VAR:-default}` in environment-file values.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ExpandError {
    /// `${VAR}` with VAR unset and no default.
    Unset(String),
    /// `${VAR}` with VAR set to something that is not UTF-8.
    NotUtf8(String),
    /// The value is blank, and these variables, set to the empty string and given no default,
    /// made it so: a CI secret not defined for this branch or environment expands to "".
    Empty(Vec<String>),
    /// These variables, set to the empty string and given no default, left a part of a value
    /// out, in a value that refuses such a part ([`Emptied::AnyPart`]): a URL's host, user or
    /// database left out is libpq's default in its place (`localhost`, the system user, the
    /// database named as the user), a target's name another database.
    EmptyPart(Vec<String>),
    Malformed(String),
}

/// Where a variable set to the empty string without a default is refused in a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Emptied {
    /// Only when it leaves the whole value blank: a key whose empty value is one (a password,
    /// an `application_name`) takes an empty part too.
    WholeValue,
    /// Anywhere in the value: every other key, where a part left out is not "nothing".
    AnyPart,
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`; any other `$` is kept.
/// A variable set to the empty string counts as unset when a default is given (as in sh).
/// A value left blank by variables set to the empty string without a default is
/// [`ExpandError::Empty`]: never a blank setting that a default silently replaces, nor one
/// reported without the variable that emptied it. With [`Emptied::AnyPart`], a variable set to
/// the empty string without a default anywhere in the value is [`ExpandError::EmptyPart`].
/// `${VAR:-}` is the way to say empty is meant.
pub(super) fn expand(
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    refused: Emptied,
) -> Result<String, ExpandError> {
    expand_naming(text, vars, refused).map(|(text, _)| text)
}

/// [`expand`], with the variables whose values the result holds (each once, in order; not
/// those that gave way to their default): where its parts came from, for the messages about
/// them (`in $DATABASE_URL, used by ...`).
pub(super) fn expand_naming(
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    refused: Emptied,
) -> Result<(String, Vec<String>), ExpandError> {
    expand_marking(text, vars, refused, None).map(|(text, used, _)| (text, used))
}

/// `text` expanded with every `${VAR:-}` that gave the empty string (its default taken, or
/// VAR set to "") written as `mark` instead, and those variables (each once, in order); `None`
/// when there is none, or `text` does not expand. A part of a URL such a variable emptied
/// is one this text has and the expanded text does not (`postgresql://h/${DB:-}`: another
/// database), which only a parse of both can tell.
pub(super) fn mark_empty_defaults(
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    mark: &str,
) -> Option<(String, Vec<String>)> {
    let (marked, _, defaulted) =
        expand_marking(text, vars, Emptied::WholeValue, Some(mark)).ok()?;
    (!defaulted.is_empty()).then_some((marked, defaulted))
}

/// [`expand_naming`], with the variables whose default gave the empty string; with `mark`,
/// that default is written as `mark`.
fn expand_marking(
    text: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    refused: Emptied,
    mark: Option<&str>,
) -> Result<(String, Vec<String>, Vec<String>), ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut used: Vec<String> = Vec::new();
    let mut defaulted: Vec<String> = Vec::new();
    let mut take_default = |out: &mut String, name: &str, default: &str| {
        if default.is_empty() {
            out.push_str(mark.unwrap_or(""));
            if !defaulted.iter().any(|d| d == name) {
                defaulted.push(name.to_string());
            }
        } else {
            out.push_str(default);
        }
    };
    let mut emptied = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(|| {
                ExpandError::Malformed("has a `${` that is not closed with `}`".to_string())
            })?;
            let body = &inner[..end];
            let (name, default) = match body.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (body, None),
            };
            if !is_variable_name(name) {
                return Err(ExpandError::Malformed(format!(
                    "uses ${{{body}}}, which is not a variable name"
                )));
            }
            if default.is_some_and(|d| d.contains("${")) {
                return Err(ExpandError::Malformed(format!(
                    "nests a `${{` in the default of ${{{name}}}, which is not supported"
                )));
            }
            match (vars(name), default) {
                (Some(value), _) if is_not_utf8(&value) => {
                    return Err(ExpandError::NotUtf8(name.to_string()))
                }
                (Some(value), Some(default)) if value.is_empty() => {
                    take_default(&mut out, name, default)
                }
                (Some(value), None) if value.is_empty() => emptied.push(name.to_string()),
                (Some(value), _) => {
                    out.push_str(&value);
                    if !used.iter().any(|u| u == name) {
                        used.push(name.to_string());
                    }
                }
                (None, Some(default)) => take_default(&mut out, name, default),
                (None, None) => return Err(ExpandError::Unset(name.to_string())),
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if emptied.is_empty() {
        return Ok((out, used, defaulted));
    }
    let mut seen = std::collections::HashSet::new();
    emptied.retain(|name| seen.insert(name.clone()));
    if out.trim().is_empty() {
        return Err(ExpandError::Empty(emptied));
    }
    if refused == Emptied::AnyPart {
        return Err(ExpandError::EmptyPart(emptied));
    }
    Ok((out, used, defaulted))
}

/// Whether `name` can be a variable's, in `${name}`.
fn is_variable_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The first `$NAME` in `value` (an expanded value) that looks like a reference to an
/// environment variable written without braces — a variable's name in capitals (`$DB`,
/// `$PGHOST`) — which [`expand`] keeps as written, `$` and all: for the message of a
/// connection that failed with it (a database named `$DB`), to say to write `${DB}`.
#[cfg(feature = "db")]
pub(crate) fn unbraced_variable(value: &str) -> Option<&str> {
    value.match_indices('$').find_map(|(i, _)| {
        let after = &value[i + 1..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..end];
        (is_variable_name(name) && !name.chars().any(|c| c.is_ascii_lowercase())).then_some(name)
    })
}

/// Whether a variable's value was not UTF-8 (see [`super::process_vars`]).
pub(super) fn is_not_utf8(value: &str) -> bool {
    value.contains(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unbraced_variables() {
        for (value, name) in [
            ("$DB", Some("DB")),
            ("app_$ENV", Some("ENV")),
            ("$PG_HOST.example.com", Some("PG_HOST")),
            ("x$_X1", Some("_X1")),
            ("a$1$B", Some("B")),
            ("${DB}", None),
            ("$db", None),
            ("$Db", None),
            ("price$", None),
            ("$1", None),
            ("plain", None),
        ] {
            assert_eq!(unbraced_variable(value), name, "{value:?}");
        }
    }

    #[test]
    fn expands_variables() {
        let vars = |name: &str| match name {
            "HOST" => Some("db".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(
            expand("a${HOST}b", &vars, Emptied::WholeValue).unwrap(),
            "adbb"
        );
        assert_eq!(
            expand(
                "${NOPE:-x}-${EMPTY:-y}-${EMPTY}",
                &vars,
                Emptied::WholeValue
            )
            .unwrap(),
            "x-y-"
        );
        // Blank because of variables set to "": named, once each.
        assert_eq!(
            expand(" ${EMPTY}${EMPTY} ", &vars, Emptied::WholeValue),
            Err(ExpandError::Empty(vec!["EMPTY".to_string()]))
        );
        assert_eq!(
            expand("${EMPTY:-}", &vars, Emptied::WholeValue).unwrap(),
            ""
        );
        // Refused anywhere: a part of a URL left out is libpq's default in its place.
        for text in [
            "postgresql://app@db/${EMPTY}",
            "postgresql://app@${EMPTY}:5432/app",
            "postgresql://${EMPTY}${EMPTY}@db/${HOST}",
            "host=db dbname=${EMPTY}",
        ] {
            assert_eq!(
                expand(text, &vars, Emptied::AnyPart),
                Err(ExpandError::EmptyPart(vec!["EMPTY".to_string()])),
                "{text}"
            );
        }
        // Explicitly empty, or blank as a whole (said as such), is not an empty part.
        assert_eq!(
            expand(
                "postgresql://app:${EMPTY:-}@db/app",
                &vars,
                Emptied::AnyPart
            )
            .unwrap(),
            "postgresql://app:@db/app"
        );
        assert_eq!(
            expand("${EMPTY}", &vars, Emptied::AnyPart),
            Err(ExpandError::Empty(vec!["EMPTY".to_string()]))
        );
        assert_eq!(expand("", &vars, Emptied::WholeValue).unwrap(), "");
        assert_eq!(
            expand("$$HOST $HOST $", &vars, Emptied::WholeValue).unwrap(),
            "$HOST $HOST $"
        );
        assert_eq!(
            expand("${NOPE}", &vars, Emptied::WholeValue),
            Err(ExpandError::Unset("NOPE".to_string()))
        );
        assert!(matches!(
            expand("${HOST", &vars, Emptied::WholeValue),
            Err(ExpandError::Malformed(_))
        ));
        assert!(matches!(
            expand("${1X}", &vars, Emptied::WholeValue),
            Err(ExpandError::Malformed(_))
        ));
        // sh would expand a nested default; taking `${HOST` as the default's text would
        // silently put `${HOST}` in a URL or a password.
        assert!(matches!(
            expand("${NOPE:-${HOST}}", &vars, Emptied::WholeValue),
            Err(ExpandError::Malformed(m)) if m.contains("nests")
        ));
        // A value is not expanded again: `${A}` set to `${A}` is no loop.
        let looping = |name: &str| (name == "A").then(|| "${A}".to_string());
        assert_eq!(
            expand("${A}", &looping, Emptied::WholeValue).unwrap(),
            "${A}"
        );
    }
}
