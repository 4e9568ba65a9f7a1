//! Commands suggested in help lines. The library writes every suggestion through [`command`],
//! so that each has one form, `` `cargo confiture <ARGS>` ``; a renderer that knows how the user
//! chose the database ([`Invocation`]) repeats that choice in each of them, so that pasting the
//! suggestion acts on the same database (`--env dev`, never another one by default).

use std::borrow::Cow;

/// How the command line is invoked; the start of every suggested command.
pub const PROGRAM: &str = "cargo confiture";

/// A suggested command, `` `cargo confiture <args>` ``: `command("migrate status")`.
pub fn command(args: &str) -> String {
    format!("`{PROGRAM} {args}`")
}

/// The subcommands that read only files: they repeat `--migrations-dir`, not the database.
const FILES_ONLY: &[&str] = &["lint", "migrate generate"];

/// The arguments of this run that every suggested command must repeat: how the database was
/// chosen (`--env dev`, `-c FILE`, `--database-url <URL>` — a placeholder, never the URL, which
/// may hold a password) and which migrations directory (`--migrations-dir DIR`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    /// For commands that connect: `["--env", "dev"]`.
    pub database: Vec<String>,
    /// For every command: `["--migrations-dir", "sql"]`.
    pub files: Vec<String>,
}

impl Invocation {
    /// `text` with this run's arguments added to every command written by [`command`]:
    /// `` `cargo confiture migrate up` `` becomes `` `cargo confiture migrate up --env dev` ``.
    pub fn render<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let opening = format!("`{PROGRAM} ");
        if self.database.is_empty() && self.files.is_empty() || !text.contains(&opening) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(start) = rest.find(&opening) {
            let after = start + opening.len();
            let Some(len) = rest[after..].find('`') else {
                break;
            };
            let args = &rest[after..after + len];
            out.push_str(&rest[..after]);
            out.push_str(args);
            let files_only = FILES_ONLY
                .iter()
                .any(|c| args == *c || args.starts_with(&format!("{c} ")));
            let database: &[String] = if files_only { &[] } else { &self.database };
            let extra = database.iter().chain(&self.files).map(|a| quote(a));
            for word in extra {
                out.push(' ');
                out.push_str(&word);
            }
            out.push('`');
            rest = &rest[after + len + 1..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }
}

/// A word as a POSIX shell reads it back: left alone when it is plain, else single-quoted.
/// Every word of a suggested shell command goes through here, so that pasting it runs what it
/// says (a database named `x;echo pwned` is one argument, not a second command).
pub(crate) fn quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    // Placeholders like `<URL>` are meant to be replaced, not quoted.
    let placeholder = word.starts_with('<') && word.ends_with('>');
    if plain || placeholder {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', "'\\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(database: &[&str], files: &[&str]) -> Invocation {
        Invocation {
            database: database.iter().map(|s| s.to_string()).collect(),
            files: files.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_suggested_command_repeats_the_selection() {
        let inv = invocation(&["--env", "dev"], &[]);
        let text = format!(
            "run {} to see what was recorded, then {} again",
            command("migrate status"),
            command("migrate up")
        );
        assert_eq!(
            inv.render(&text),
            "run `cargo confiture migrate status --env dev` to see what was recorded, \
             then `cargo confiture migrate up --env dev` again"
        );
    }

    #[test]
    fn commands_that_read_only_files_repeat_only_the_directory() {
        let inv = invocation(&["-c", "my env.yaml"], &["--migrations-dir", "sql"]);
        assert_eq!(
            inv.render(&format!("fix them ({} lists them)", command("lint"))),
            "fix them (`cargo confiture lint --migrations-dir sql` lists them)"
        );
        assert_eq!(
            inv.render(&command("migrate generate NAME")),
            "`cargo confiture migrate generate NAME --migrations-dir sql`"
        );
        assert_eq!(
            inv.render(&command("migrate reinit --through 005")),
            "`cargo confiture migrate reinit --through 005 -c 'my env.yaml' --migrations-dir sql`"
        );
    }

    #[test]
    fn placeholders_stay_and_plain_text_is_untouched() {
        let inv = invocation(&["--database-url", "<URL>"], &[]);
        assert_eq!(
            inv.render(&command("migrate up")),
            "`cargo confiture migrate up --database-url <URL>`"
        );
        assert_eq!(inv.render("no command here"), "no command here");
        assert_eq!(
            inv.render("`cargo confiture unclosed"),
            "`cargo confiture unclosed"
        );
        assert_eq!(
            Invocation::default().render(&command("lint")),
            command("lint")
        );
        assert_eq!(quote("it's"), "'it'\\''s'");
    }
}
