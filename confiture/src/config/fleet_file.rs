//! Reading the `fleet:` block of an environment file ([`super::fleet`]), with errors that
//! name the file, the line and the key.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::file::{indent, FileContext, Unknown};
use super::fleet::{FleetList, FleetSettings, MAX_JOBS};
use crate::error::{Error, Result};

const FLEET_KEYS: &[&str] = &[
    "targets",
    "targets_query",
    "schemas_query",
    "jobs",
    "keep_going",
];

/// The keys that name a list: at most one may be set.
const LIST_KEYS: &[&str] = &["targets", "targets_query", "schemas_query"];

impl FileContext<'_> {
    /// The `fleet:` block (`value`) of an environment file whose relative paths start at `base`.
    /// A block written null (`fleet: ~`, or its every key commented out) is a block with
    /// no settings, as `fleet: {}` is: present, it is never "no fleet" (the environment's own
    /// database, the one holding the list).
    pub(super) fn fleet_block(&self, value: &Value, base: &Path) -> Result<Option<FleetSettings>> {
        let empty = Mapping::new();
        let block = match value {
            Value::Null => &empty,
            Value::Mapping(block) => block,
            _ => {
                return Err(self
                    .error_at(&["fleet"], "must be a mapping of settings")
                    .with_help("indent its settings under it, e.g. `fleet:` then `  jobs: 8`"))
            }
        };
        self.check_keys(block, "fleet", FLEET_KEYS, Unknown::Refused);
        // `targets:` with nothing under it (its entries commented out) is a list left empty,
        // not a list left out.
        if let Some(key) = LIST_KEYS
            .iter()
            .find(|key| block.get(**key).is_some_and(Value::is_null))
        {
            return Err(self.error_at(&["fleet", key], "is empty").with_help(
                "give it a value (a list of targets, a target file, or SQL), or remove the key",
            ));
        }
        let given: Vec<&str> = LIST_KEYS
            .iter()
            .copied()
            .filter(|key| block.get(*key).is_some_and(|v| !v.is_null()))
            .collect();
        if let [first, second, ..] = given[..] {
            return Err(self
                .error_at(
                    &["fleet", second],
                    &format!("is a second target list (`fleet.{first}` is one)"),
                )
                .with_help(
                    "keep one of `fleet.targets`, `fleet.targets_query` and `fleet.schemas_query`",
                ));
        }
        let list = match given.first().copied() {
            None => None,
            Some("targets") => Some(self.targets(&block["targets"], base)?),
            Some(key) => {
                let sql = self.fleet_string(block, key)?;
                Some(if key == "targets_query" {
                    FleetList::TargetsQuery(sql)
                } else {
                    FleetList::SchemasQuery(sql)
                })
            }
        };
        // As written, before `$$` became `$`.
        let query_has_double_dollar = ["targets_query", "schemas_query"]
            .iter()
            .any(|key| matches!(block.get(*key), Some(Value::String(raw)) if raw.contains("$$")));
        Ok(Some(FleetSettings {
            list,
            jobs: self.jobs(block)?,
            keep_going: self.keep_going(block)?,
            relative_to: base.to_path_buf(),
            query_has_double_dollar,
            line: self.key_line(&["fleet"]),
        }))
    }

    /// `fleet.targets`: a list of entries, or the path of a target file.
    fn targets(&self, value: &Value, base: &Path) -> Result<FleetList> {
        let key = "fleet.targets";
        match value {
            Value::Sequence(items) => {
                let lines = self.item_lines(&["fleet", "targets"], items.len());
                let mut entries = Vec::with_capacity(items.len());
                for (i, (item, &line)) in items.iter().zip(&lines).enumerate() {
                    let at = |what: &str| self.error_on_line(line, key, what);
                    let text = match item {
                        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                            self.string_on_line(item, key, line)?
                        }
                        _ => {
                            return Err(at("has an entry that is not a string").with_help(
                                "write one database name or postgresql:// URL per `- ` line",
                            ))
                        }
                    };
                    // A URL's part a `${VAR:-}` emptied would reach another database.
                    if let Value::String(written) = item {
                        if let Some((what, help)) = self.emptied_parts(written, &text) {
                            return Err(at(&what).with_help(help));
                        }
                    }
                    // Entries of a flow list (`[a, b]`) share their line: each is told
                    // apart by its place in the list (`F:3, entry 2`), so that a target's
                    // source is its own (`... is already listed at F:3, entry 1`).
                    let mut source = self.line_source(line);
                    if lines.iter().filter(|other| **other == line).count() > 1 {
                        source = format!("{source}, entry {}", i + 1);
                    }
                    entries.push((super::fleet::list_entry(&text).to_string(), source));
                }
                Ok(FleetList::Entries(entries))
            }
            Value::String(_) => {
                let file = self.string(value, key)?;
                if file.trim().is_empty() {
                    return Err(self.error_at(&["fleet", "targets"], "is empty"));
                }
                Ok(FleetList::File(base.join(file.trim())))
            }
            _ => Err(self
                .error_at(
                    &["fleet", "targets"],
                    "must be a list of targets or the path of a target file",
                )
                .with_help(
                    "write `targets:` then `  - tenant_1` lines, or `targets: tenants.txt`",
                )),
        }
    }

    fn fleet_string(&self, block: &Mapping, key: &str) -> Result<String> {
        let full = format!("fleet.{key}");
        let text = self.string(&block[key], &full)?;
        if text.trim().is_empty() {
            return Err(self.error_at(&["fleet", key], "is empty"));
        }
        Ok(text)
    }

    fn jobs(&self, block: &Mapping) -> Result<Option<usize>> {
        let Some(value) = block.get("jobs").filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let text = self.number(value, "fleet.jobs")?;
        match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_JOBS).contains(&n) => Ok(Some(n)),
            _ => Err(self
                .value_error(
                    "fleet.jobs",
                    &text,
                    &format!("is not a number from 1 to {MAX_JOBS}"),
                )
                .with_help("write how many targets to run at once, e.g. `jobs: 8`")),
        }
    }

    fn keep_going(&self, block: &Mapping) -> Result<Option<bool>> {
        match block.get("keep_going") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error_at(&["fleet", "keep_going"], "must be true or false")),
        }
    }

    /// `environment file F, line L: `fleet.jobs` what` (the line when it can be found).
    fn error_at(&self, path: &[&str], what: &str) -> Error {
        self.key_error(&path.join("."), what)
    }

    /// `F:L`, or the file alone when the line is not known.
    fn line_source(&self, line: Option<usize>) -> String {
        match line {
            Some(line) => format!("{}:{line}", self.shown),
            None => self.shown.to_string(),
        }
    }

    /// The line of each of the `count` items of the sequence at `path`: the `- ` lines under
    /// its key in block style; its key's line for all of them in flow style (`[a, b]`).
    fn item_lines(&self, path: &[&str], count: usize) -> Vec<Option<usize>> {
        let key = self.key_line(path);
        let mut lines = Vec::new();
        if let Some(key) = key {
            let key_indent = indent(self.text.lines().nth(key - 1).unwrap_or(""));
            for (i, line) in self.text.lines().enumerate().skip(key) {
                let trimmed = line.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let is_item = trimmed == "-" || trimmed.starts_with("- ");
                if indent(line) < key_indent || (indent(line) == key_indent && !is_item) {
                    break;
                }
                if is_item && lines.len() < count {
                    lines.push(Some(i + 1));
                }
            }
        }
        if lines.len() == count {
            lines
        } else {
            vec![key; count]
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::file::key_line;
    use crate::config::{Environment, FleetList, FleetSettings};

    fn parse(text: &str) -> crate::Result<Option<FleetSettings>> {
        let vars = |name: &str| (name == "PW").then(|| "s3cret".to_string());
        Environment::parse(text, Path::new("db/environments/prod.yaml"), &vars).map(|e| e.fleet)
    }

    const HEAD: &str = "database_url: postgresql://app@db/app\n";

    /// A target URL whose database (host, port, user) a `${VAR:-}` emptied went to libpq's
    /// default in its place — the database named as the user — as `database_url`'s does not.
    #[test]
    fn a_target_url_a_default_emptied_a_part_of_is_refused_at_its_line() {
        for (url, part) in [
            (
                "postgresql://app@db2/${CONFITURE_TEST_FLEET_T:-}",
                "database name",
            ),
            ("postgresql://app@${CONFITURE_TEST_FLEET_T:-}/t2", "host"),
            (
                "host=db2 dbname=${CONFITURE_TEST_FLEET_T:-}",
                "database name",
            ),
        ] {
            let text = format!("{HEAD}fleet:\n  targets:\n    - tenant_1\n    - {url}\n");
            let err = parse(&text).expect_err(&text);
            assert_eq!(err.kind, crate::ErrorKind::Invalid, "{text}");
            assert!(
                err.message.starts_with(&format!(
                    "environment file db/environments/prod.yaml, line 5: `fleet.targets` has an \
                     empty {part}: ${{CONFITURE_TEST_FLEET_T:-}} expanded to nothing"
                )),
                "{text}: {}",
                err.message
            );
            let help = err.help.as_deref().unwrap_or_default();
            assert!(help.starts_with("set CONFITURE_TEST_FLEET_T "), "{help}");
        }
        // A default that gives the part, or a URL without that part, is as before.
        let text = format!(
            "{HEAD}fleet:\n  targets:\n    - postgresql://app@db2/${{CONFITURE_TEST_FLEET_T:-t2}}\n    - postgresql://app@db2\n"
        );
        assert!(parse(&text).is_ok(), "{text}");
    }

    /// An entry of a flow list (`targets: [0123, 0x10]`) written as a number was refused as
    /// "not on the key's line", its text not looked for there (hsm). Each entry's text is
    /// kept as written, an anchor on it (`[&a 0x10, *a]`) left out; where the text cannot be
    /// told (two entries read as the same number) it is still refused, as an alias of a
    /// number is in a block list.
    #[test]
    fn a_target_of_a_flow_list_written_as_a_number_keeps_its_text() {
        for (list, names) in [
            ("[0123, 0x10, 1e3]", &["0123", "0x10", "1e3"][..]),
            ("[&a 0x10, *a]", &["0x10", "0x10"]),
            ("[&a \"0x10\", *a, +5]", &["0x10", "0x10", "+5"]),
        ] {
            let text = format!("{HEAD}fleet:\n  targets: {list}\n");
            let settings = parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let entries: Vec<(String, String)> = (names.iter().enumerate())
                .map(|(i, name)| {
                    let source = format!("db/environments/prod.yaml:3, entry {}", i + 1);
                    (name.to_string(), source)
                })
                .collect();
            assert_eq!(
                settings.and_then(|s| s.list),
                Some(FleetList::Entries(entries)),
                "{text}"
            );
        }
        let text = format!("{HEAD}fleet:\n  targets:\n    - &a 0x10\n    - *a\n");
        let err = parse(&text).expect_err(&text);
        assert!(
            err.message
                .contains("`fleet.targets` is a number whose text cannot be kept"),
            "{text}: {err}"
        );
        // Entries on the key's line that read as the same number (or boolean): those
        // entries are named, and quoting them is the help (not quoting the whole value, which
        // would make it the path of a target file).
        for (list, entries, read) in [
            ("[db_a, 0x10, 16]", ["0x10", "16"], "number (16)"),
            ("[16, 0x10]", ["16", "0x10"], "number (16)"),
            ("[0o10, 8, db_b]", ["0o10", "8"], "number (8)"),
        ] {
            let text = format!("{HEAD}fleet:\n  targets: {list}\n");
            let err = parse(&text).expect_err(&text);
            let said = format!(
                "line 3: `fleet.targets` has entries `{}` and `{}` that YAML reads as the same \
                 {read}",
                entries[0], entries[1]
            );
            assert!(err.message.contains(&said), "{text}: {err}");
            assert!(!err.message.contains("not on the key's line"), "{err}");
            let help = format!(
                "quote those entries where they are written: `\"{}\"` and `\"{}\"`",
                entries[0], entries[1]
            );
            assert_eq!(err.help.as_deref(), Some(help.as_str()), "{text}");
        }
    }

    #[test]
    fn a_list_of_entries_keeps_the_line_of_each() {
        let text = format!(
            "{HEAD}fleet:\n  targets:\n    - tenant_1\n    # a comment\n    - postgresql://app:${{PW}}@db2/t2\n  jobs: 8\n  keep_going: true\n"
        );
        let settings = parse(&text).unwrap().unwrap();
        assert_eq!(
            settings.list,
            Some(FleetList::Entries(vec![
                (
                    "tenant_1".to_string(),
                    "db/environments/prod.yaml:4".to_string()
                ),
                (
                    "postgresql://app:s3cret@db2/t2".to_string(),
                    "db/environments/prod.yaml:6".to_string()
                ),
            ]))
        );
        assert_eq!(settings.jobs, Some(8));
        assert_eq!(settings.keep_going, Some(true));
    }

    #[test]
    fn a_target_file_is_relative_to_the_environment_file() {
        let settings = parse(&format!("{HEAD}fleet:\n  targets: tenants.txt\n"))
            .unwrap()
            .unwrap();
        assert_eq!(
            settings.list,
            Some(FleetList::File(PathBuf::from(
                "db/environments/tenants.txt"
            )))
        );
        let query = parse(&format!("{HEAD}fleet:\n  schemas_query: SELECT 'a'\n"))
            .unwrap()
            .unwrap();
        assert_eq!(
            query.list,
            Some(FleetList::SchemasQuery("SELECT 'a'".to_string()))
        );
        assert_eq!(query.jobs, None);
        // Flow style: every entry at its key's line.
        let flow = parse(&format!("{HEAD}fleet:\n  targets: [a, b]\n"))
            .unwrap()
            .unwrap();
        let Some(FleetList::Entries(entries)) = flow.list else {
            panic!("{flow:?}");
        };
        assert_eq!(entries[1].1, "db/environments/prod.yaml:3, entry 2");
        // Without a block, no fleet; a block without a list only sets the scheduling.
        assert_eq!(parse(HEAD).unwrap(), None);
        // A block written null (its keys commented out) is there, with no settings.
        let none = parse(&format!("{HEAD}fleet: {{}}\n")).unwrap();
        assert!(none.as_ref().is_some_and(|f| f.list.is_none()), "{none:?}");
        for block in ["fleet:\n#  targets: t.txt\n", "fleet: ~\n", "fleet: null\n"] {
            assert_eq!(parse(&format!("{HEAD}{block}")).unwrap(), none, "{block}");
        }
        let jobs = parse(&format!("{HEAD}fleet:\n  jobs: 2\n"))
            .unwrap()
            .unwrap();
        assert_eq!((jobs.list, jobs.jobs), (None, Some(2)));
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let two = parse(&format!(
            "{HEAD}fleet:\n  targets: t.txt\n  jobs: 3\n  targets_query: SELECT 1\n"
        ))
        .unwrap_err();
        assert_eq!(two.kind, crate::ErrorKind::Invalid);
        assert_eq!(
            two.message,
            "environment file db/environments/prod.yaml, line 5: `fleet.targets_query` is a \
             second target list (`fleet.targets` is one)"
        );
        for (block, line, key, what) in [
            (
                "  jobs: 0\n",
                3,
                "fleet.jobs",
                "\"0\" is not a number from 1 to 1024",
            ),
            ("  jobs: many\n", 3, "fleet.jobs", "is not a number"),
            (
                "  keep_going: yes please\n",
                3,
                "fleet.keep_going",
                "must be true or false",
            ),
            (
                "  targets:\n    - a\n    - [b]\n",
                5,
                "fleet.targets",
                "not a string",
            ),
            ("  targets: {a: 1}\n", 3, "fleet.targets", "must be a list"),
            (
                "  targets_query: \"  \"\n",
                3,
                "fleet.targets_query",
                "is empty",
            ),
            (
                "  targets_query: ${NOPE}\n",
                3,
                "fleet.targets_query",
                "${NOPE}",
            ),
            (
                "  targets:\n    - a\n    - ${NOPE}\n",
                5,
                "fleet.targets",
                "${NOPE}",
            ),
            // Its entries commented out: a list left empty, not left out.
            (
                "  targets:\n  #  - a\n  jobs: 8\n",
                3,
                "fleet.targets",
                "is empty",
            ),
            ("  schemas_query:\n", 3, "fleet.schemas_query", "is empty"),
        ] {
            let e = parse(&format!("{HEAD}fleet:\n{block}")).unwrap_err();
            let at = format!("environment file db/environments/prod.yaml, line {line}: `{key}`");
            assert!(e.message.starts_with(&at), "{block:?}: {e}");
            assert!(e.message.contains(what), "{block:?}: {e}");
        }
        let e = parse(&format!("{HEAD}fleet: tenants.txt\n")).unwrap_err();
        assert!(
            e.message.contains("line 2: `fleet` must be a mapping"),
            "{e}"
        );
        let e = parse(&format!("{HEAD}fleet:\n  job: 3\n")).unwrap_err();
        assert_eq!(
            e.help.as_deref(),
            Some("did you mean `fleet.jobs`?"),
            "{e:?}"
        );
    }

    #[test]
    fn every_unknown_key_of_the_block_is_refused() {
        // The block is ours alone (confiture (Python) ignores it): a key that is no setting
        // is a mistake, spelled close to one or not, never a setting silently left at its default.
        for (key, help) in [
            ("concurrency: 16", None),
            ("parallel: 16", None),
            ("max_jobs: 16", None),
            ("continue_on_error: true", None),
            ("keepgoing: true", Some("did you mean `fleet.keep_going`?")),
        ] {
            let name = key.split(':').next().unwrap();
            let e = parse(&format!("{HEAD}fleet:\n  targets: t.txt\n  {key}\n")).unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Invalid);
            assert_eq!(
                e.message,
                format!(
                    "environment file db/environments/prod.yaml, line 4: `fleet.{name}` is not a setting"
                )
            );
            let settings = "the settings of `fleet` are `targets`, `targets_query`, \
                            `schemas_query`, `jobs`, `keep_going`";
            assert_eq!(e.help.as_deref(), Some(help.unwrap_or(settings)), "{key}");
        }
        // The `migration:` block is confiture (Python)'s too: a key it may read is left to it.
        assert!(parse(&format!("{HEAD}migration:\n  strict_mode: true\n")).is_ok());
    }

    #[test]
    fn keys_are_found_under_their_parents() {
        let text = "database_url: x\n# fleet: no\njobs: 1\nfleet:\n  # c\n  targets:\n    - a\n  jobs: 8\nother:\n  jobs: 9\n";
        assert_eq!(key_line(text, &["fleet"]), Some(4));
        assert_eq!(key_line(text, &["fleet", "targets"]), Some(6));
        assert_eq!(key_line(text, &["fleet", "jobs"]), Some(8));
        assert_eq!(key_line(text, &["fleet", "keep_going"]), None);
        // Flow style: the line the block is written on.
        assert_eq!(key_line("fleet: {jobs: 3}\n", &["fleet", "jobs"]), Some(1));
    }
}
