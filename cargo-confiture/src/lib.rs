//! The `cargo confiture` command line: argument parsing, rendering and exit codes. Glue only;
//! the work is in the `confiture` library.
//!
//! Works both as invoked by cargo (`cargo-confiture confiture <args>`) and directly
//! (`cargo-confiture <args>`). Results go to stdout (a table, or one JSON document with
//! `--format json`); progress and diagnostics go to stderr.

mod cli;
mod commands;
mod output;
mod render;
mod select;
mod stdio;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use confiture::config::ConnectionSpec;
use confiture::text::did_you_mean;
use confiture::{exit, Error};

pub use cli::Cli;

/// Runs the CLI with the process arguments and returns its exit code.
pub fn main() -> ExitCode {
    ExitCode::from(run(std::env::args_os()))
}

/// Runs the CLI with `args` (the first being the program name); returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> u8 {
    let mut args: Vec<OsString> = args.into_iter().collect();
    // cargo runs `cargo-confiture confiture <args>`; people may run `cargo-confiture <args>`.
    if args.get(1).is_some_and(|a| a == "confiture") {
        args.remove(1);
    }
    let given = connections_given(&args);
    let cli = match cli::parse(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let e = as_typed(one_setting_two_names(suggest(e, &args), &args), &args);
            let e = with_color(e, &args);
            return argument_error(&e, wants_json(&args), &given);
        }
    };
    let mut cli = cli;
    if let Some(error) = connection_as_a_name(&mut cli) {
        // The values are taken out first: the output repeats neither (`schema` keys,
        // suggested commands).
        let out = output::Output::new(&cli);
        let code = error.exit_code();
        out.error(&without_passwords(error, &given));
        return code;
    }
    let out = output::Output::new(&cli);
    // Given to a command that never connects (its help does not show them), they are said
    // to be ignored, not refused: the same line runs as it did.
    for flag in cli.ignored_connection_flags() {
        out.warning(&format!(
            "`{flag}` is ignored: `cargo confiture {}` {}",
            cli.words().join(" "),
            cli::NEVER_CONNECTS
        ));
    }
    let outcome = commands::run(&cli, &out);
    commands::migrate::say_ignored_passfile(&out, outcome.as_ref().err());
    let code = match outcome {
        Ok(code) => code,
        Err(error) => {
            let code = error.exit_code();
            out.error(&without_passwords(error, &given));
            code
        }
    };
    out.settle(code, commands::completed(&cli.command))
}

/// The connection strings given anywhere on the command line: in `--database-url`, or by
/// mistake where another argument goes (`migrate up $DATABASE_URL`, `--env URL`, `-c URL`, a
/// conninfo cut in two by the shell). An error may quote the word it rejects; every error of
/// the run is shown without them ([`scrubbed`]).
#[derive(Default)]
struct Given {
    /// Those that parse, with a password: hidden wherever it appears, in any percent-encoding
    /// ([`ConnectionSpec::scrub`]).
    specs: Vec<ConnectionSpec>,
    /// Those that do not parse (a bad port, a `/` left unencoded in the password): no password
    /// can be read from them; the word itself is hidden.
    words: Vec<String>,
}

fn connections_given(args: &[OsString]) -> Given {
    let mut given = Given::default();
    let mut words = Vec::new();
    let mut previous = "";
    for word in args.iter().skip(1).filter_map(|a| a.to_str()) {
        // A flag and its value in one word (`--env=URL`, `-cURL`): the value alone.
        let (flag, value) = match with_its_value(word) {
            Some((flag, value)) => (flag.trim_start_matches('-'), value),
            None => (previous.strip_prefix("--").unwrap_or(""), word),
        };
        if !SHOWN_BY_THE_LIBRARY.contains(&flag) {
            words.push(value);
        }
        previous = word;
    }
    for word in words
        .into_iter()
        .filter(|w| confiture::config::names_a_connection(w))
    {
        match ConnectionSpec::parse(word) {
            Ok(spec) if spec.password.as_deref().is_some_and(|p| !p.is_empty()) => {
                given.specs.push(spec);
            }
            Ok(_) => {}
            // A path that exists is a path (`-c ops@eu.yaml`), named in its errors.
            Err(_) if std::path::Path::new(word).exists() => {}
            Err(_) => given.words.push(word.to_string()),
        }
    }
    given
}

/// A connection string given to `--schema`, or to `--migrations-dir` where no such directory
/// exists (`--schema $DATABASE_URL`): refused before anything repeats it (the JSON `schema`
/// keys, the flags of suggested commands, a path's normalised form that the scrub of
/// [`without_passwords`] no longer matches), its text never shown, as the library refuses one
/// given to `--env`, `-c` or `--targets`. The value is taken out of `cli`.
fn connection_as_a_name(cli: &mut Cli) -> Option<Error> {
    use confiture::config::{connection_given_as, InPlaceOf};
    let global = &mut cli.global;
    if global
        .schema
        .take_if(|schema| confiture::config::names_a_connection(schema))
        .is_some()
    {
        return Some(connection_given_as(
            InPlaceOf::Name {
                what: "tenant schema name",
                given_to: "--schema",
            },
            "give the database with --database-url (or --env), and the tenant schema's name to \
             --schema",
        ));
    }
    if global
        .migrations_dir
        .take_if(|dir| {
            confiture::config::names_a_connection(&dir.to_string_lossy()) && !dir.exists()
        })
        .is_some()
    {
        return Some(connection_given_as(
            InPlaceOf::Path {
                what: "migrations directory",
                given_to: Some("--migrations-dir"),
            },
            "give the database with --database-url (or --env), and the migrations directory's \
             path to --migrations-dir",
        ));
    }
    None
}

/// The flags whose value is a connection string the library reads and never shows (or SQL,
/// with its `=`): scrubbing every error with their password would garble it when the password
/// is short or a common word (`postgres:postgres`), for nothing.
const SHOWN_BY_THE_LIBRARY: &[&str] = &[
    "database-url",
    "scratch-url",
    "targets-query",
    "schemas-query",
];

/// `text` without the connection strings `given` on the command line: their passwords
/// replaced by `***`, the words that do not parse by `<connection string>`.
fn scrubbed(text: &str, given: &Given) -> String {
    let text = given.words.iter().fold(text.to_string(), |text, word| {
        text.replace(word.as_str(), "<connection string>")
    });
    given
        .specs
        .iter()
        .fold(text, |text, spec| spec.scrub(&text))
}

/// `error` with every text it shows (message, cause, details, help) [`scrubbed`].
fn without_passwords(mut error: Error, given: &Given) -> Error {
    if given.specs.is_empty() && given.words.is_empty() {
        return error;
    }
    error.message = scrubbed(&error.message, given);
    for detail in &mut error.details {
        *detail = scrubbed(detail, given);
    }
    error.help = error.help.map(|help| scrubbed(&help, given));
    match error.cause().map(|cause| scrubbed(cause, given)) {
        Some(cause) => error.with_cause(cause),
        None => error,
    }
}

/// Whether the arguments ask for `--format json`, read from the raw arguments: clap's own
/// errors happen before there is a parsed value to ask, and a script that passed
/// `--format json` must still get one JSON document when another argument is wrong — also
/// when that argument is another `--format` (`--format json --format table`, which clap
/// refuses: at one level the flag is given once) or comes after it: any `--format json`
/// before `--` asks for it.
fn wants_json(args: &[OsString]) -> bool {
    given_values(args, "--format").any(|value| value == Some("json"))
}

/// The value of the long option `flag` (`--flag VALUE` or `--flag=VALUE`) in the raw
/// arguments, for what must hold before they parse (`--color`). The last one wins, as a
/// subcommand's does over its parent's for clap (which refuses the flag twice at one level);
/// nothing after `--` is an option.
fn given_value<'a>(args: &'a [OsString], flag: &'a str) -> Option<&'a str> {
    given_values(args, flag).last().flatten()
}

/// Every value of the long option `flag` (`--flag VALUE` or `--flag=VALUE`) in the raw
/// arguments, in order (`None`: not UTF-8, or missing); nothing after `--` is an option.
fn given_values<'a>(
    args: &'a [OsString],
    flag: &'a str,
) -> impl Iterator<Item = Option<&'a str>> + 'a {
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    std::iter::from_fn(move || loop {
        match words.next()? {
            Some("--") => return None,
            Some(w) if w == flag => return Some(words.next().flatten()),
            Some(w) => {
                if let Some(given) = w.strip_prefix(flag).and_then(|w| w.strip_prefix('=')) {
                    return Some(Some(given));
                }
            }
            None => {}
        }
    })
}

/// A clap error (or the help, the version) rendered as `--color` asks: clap decides its colour
/// by its command's setting, which the parsed `--color` never reached. `auto` (or no valid
/// value) is clap's own: a terminal, `NO_COLOR`, `CLICOLOR_FORCE`.
fn with_color(e: clap::Error, args: &[OsString]) -> clap::Error {
    let choice = match given_value(args, "--color") {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ => return e,
    };
    e.with_cmd(&reached(args).color(choice))
}

/// clap's "a similar subcommand/argument exists" tip, decided by the one did-you-mean rule of
/// the project ([`confiture::text::did_you_mean`]; clap is built without its own) among the
/// subcommands or long options of the command the arguments reached.
fn suggest(mut e: clap::Error, args: &[OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind as K};
    let command = reached(args);
    let word = |kind| match e.get(kind) {
        Some(ContextValue::String(word)) => Some(word.clone()),
        _ => None,
    };
    let (kind, value) = match e.kind() {
        K::InvalidSubcommand => {
            let Some(word) = word(ContextKind::InvalidSubcommand) else {
                return e;
            };
            let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
            let Some(close) = did_you_mean(&word, names) else {
                // Not one of this command's: a subcommand given at another level (`cargo
                // confiture up`, `migrate lint`) or a command other tools have (`init`).
                if let Some(tip) = elsewhere(&word, args) {
                    e.insert(
                        ContextKind::Suggested,
                        ContextValue::StyledStrs(vec![tip.into()]),
                    );
                }
                return e;
            };
            let value = ContextValue::Strings(vec![close.to_string()]);
            (ContextKind::SuggestedSubcommand, value)
        }
        K::UnknownArgument => {
            let Some(word) = word(ContextKind::InvalidArg) else {
                return e;
            };
            if let Some(tip) = flag_of_others(&word, args) {
                // The whole usage of the command, its `[OPTIONS]` included: clap's names only
                // the arguments given (`migrate generate <NAME>`).
                e.insert(
                    ContextKind::Usage,
                    ContextValue::StyledStr(command.clone().render_usage()),
                );
                // Instead of clap's "to pass '--lock-wait' as a value, use '-- --lock-wait'":
                // followed, it fails again.
                e.insert(
                    ContextKind::Suggested,
                    ContextValue::StyledStrs(vec![tip.into()]),
                );
            }
            let Some(flag) = word.strip_prefix("--") else {
                // A connection string where an argument goes: say which flag takes it (the
                // tip never repeats it: it may hold a password).
                if confiture::config::names_a_connection(&word) {
                    let tip = "to name the database, use --database-url <URL>";
                    e.insert(
                        ContextKind::Suggested,
                        ContextValue::StyledStrs(vec![tip.into()]),
                    );
                }
                return e;
            };
            let flag = flag.split('=').next().unwrap_or(flag);
            let longs: Vec<&str> = command
                .get_arguments()
                .filter_map(|a| a.get_long())
                .collect();
            // The command's own flag, given before its subcommand: not "a similar argument".
            let Some(close) = did_you_mean(flag, longs).filter(|close| *close != flag) else {
                return e;
            };
            (
                ContextKind::SuggestedArg,
                ContextValue::String(format!("--{close}")),
            )
        }
        _ => return e,
    };
    e.insert(kind, value);
    e
}

/// The tip for a flag (`--lock-wait`, `--lock-wait=5s`, `-D`) that the command the arguments
/// reached lacks while other commands take it: the command takes none, and which ones do; a
/// command that never connects says so, as of the connection flags given to it
/// ([`cli::never_connects`]), when every command taking the flag connects. `None` for a word
/// no command takes as a flag.
fn flag_of_others(word: &str, args: &[OsString]) -> Option<String> {
    let typed = word.split('=').next().unwrap_or(word);
    let long = typed.strip_prefix("--");
    let short = match typed
        .strip_prefix('-')
        .map(|s| s.chars().collect::<Vec<_>>())
    {
        Some(chars) if long.is_none() && chars.len() == 1 => Some(chars[0]),
        _ => None,
    };
    if long.is_none() && short.is_none() {
        return None;
    }
    let takes = |arg: &clap::Arg| match long {
        Some(long) => {
            arg.get_long() == Some(long)
                || arg.get_all_aliases().is_some_and(|all| all.contains(&long))
        }
        None => short.is_some() && arg.get_short() == short,
    };
    // Given before the subcommand that takes it (`migrate --steps 2 down`): the command line
    // with the flags after it.
    if reached(args).get_arguments().any(takes) {
        let line = flags_after_subcommand(args)?;
        let here = reached_path(args).join(" ");
        return Some(format!(
            "{typed} is an option of `cargo confiture {here}`: give it after `{here}`, as in \
             `{line}`"
        ));
    }
    // As declared (`cli::command` adds the hidden connection flags to the commands that
    // never connect, which moves them last): the commands are listed in the help's order.
    let root = <Cli as clap::CommandFactory>::command();
    let here = reached_path(args);
    let mut paths = Vec::new();
    subcommand_paths(&root, &mut Vec::new(), &mut paths);
    let mut theirs: Vec<Vec<String>> = Vec::new();
    for path in paths.into_iter().filter(|path| *path != here) {
        let mut command = &root;
        for name in &path {
            command = command.find_subcommand(name)?;
        }
        if command.has_subcommands() || !command.get_arguments().any(takes) {
            continue;
        }
        theirs.push(path);
    }
    if theirs.is_empty() {
        return None;
    }
    let never_connects = |path: &[String]| {
        cli::NEVER_CONNECT
            .iter()
            .any(|words| words.iter().eq(path.iter()))
    };
    let listed = confiture::display::cut(
        theirs
            .iter()
            .map(|path| format!("`{}`", path.join(" ")))
            .collect(),
    )
    .join(", ");
    let command = format!("`cargo confiture {}`", here.join(" "));
    if never_connects(&here) && !theirs.iter().any(|path| never_connects(path)) {
        return Some(format!(
            "{command} takes no {typed}: it {} ({typed} is for {listed})",
            cli::NEVER_CONNECTS
        ));
    }
    Some(format!(
        "{command} takes no {typed} ({typed} is for {listed})"
    ))
}

/// The tip for a word that is no subcommand where it was given: the command line with the
/// subcommand it names (or is close to) where that one is, `migrate up` for `up` and `lint` for
/// `migrate lint`, the other words kept, so that pasted it runs what was meant; for `init`
/// (confiture (Python)'s, and other tools'), how a project starts here.
fn elsewhere(word: &str, args: &[OsString]) -> Option<String> {
    let mut root = cli::command();
    root.build();
    let here = reached_path(args);
    let mut paths = Vec::new();
    subcommand_paths(&root, &mut Vec::new(), &mut paths);
    // This command's own subcommands were looked at already.
    let paths: Vec<Vec<String>> = paths
        .into_iter()
        .filter(|p| p[..p.len() - 1] != here[..])
        .collect();
    if word == "help" {
        // `cargo confiture help [migrate up]`, as cargo and git take it: the `--help` of what
        // follows.
        let line = command_line(Some(word), &[], &[], args)?;
        return Some(format!("did you mean `{line} --help`?"));
    }
    let Some(close) = did_you_mean(word, paths.iter().map(|p| p[p.len() - 1].as_str())) else {
        if word == "init" {
            return Some(
                "there is no `init`: `cargo confiture migrate generate NAME` creates the \
                 migrations directory and its first migration, and an environment file \
                 (`db/environments/local.yaml` by default, `database_url: \
                 postgresql://user@host:5432/dbname`) names the database"
                    .to_string(),
            );
        }
        return None;
    };
    let path = paths.iter().find(|p| p[p.len() - 1] == close)?;
    let line = command_line(Some(word), &here, path, args)?;
    Some(format!("did you mean `{line}`?"))
}

/// `args` as a command line (as [`command_line`] writes it) with each flag given before the
/// subcommand the arguments reached, which takes it while the command it was given to does not
/// (`migrate --steps 2 down`), moved with its value after that subcommand: `migrate down
/// --steps 2`. The flags of the command they were given to stay where they are. `None` when
/// nothing moves, or for arguments that are not UTF-8.
fn flags_after_subcommand(args: &[OsString]) -> Option<String> {
    let (reached, path) = walk(args);
    let words: Vec<&str> = args
        .iter()
        .skip(1)
        .map(|a| a.to_str())
        .collect::<Option<_>>()?;
    let mut command = cli::command();
    command.build();
    let mut kept: Vec<&str> = Vec::new();
    let mut moved: Vec<&str> = Vec::new();
    let mut after = None;
    let mut depth = 0;
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        i += 1;
        if word == "--" || depth == path.len() {
            kept.extend(&words[i - 1..]);
            break;
        }
        if word == path[depth] {
            command = command.find_subcommand(word)?.clone();
            depth += 1;
            kept.push(word);
            if depth == path.len() {
                after = Some(kept.len());
            }
            continue;
        }
        let (Some(theirs), None) = (arg_named(&reached, word), arg_named(&command, word)) else {
            kept.push(word);
            continue;
        };
        moved.push(word);
        let attached = word.starts_with("--") && word.contains('=')
            || !word.starts_with("--") && word.len() > 2;
        if theirs.get_action().takes_values() && !attached && i < words.len() {
            moved.push(words[i]);
            i += 1;
        }
    }
    let after = after?;
    if moved.is_empty() {
        return None;
    }
    kept.splice(after..after, moved);
    let line: Vec<OsString> = std::iter::once("cargo-confiture")
        .chain(kept)
        .map(OsString::from)
        .collect();
    command_line(None, &[], &[], &line)
}

/// The argument of `command` a word of the command line gives: `--name`, `--name=VALUE` (a
/// long name or one of its aliases), `-X` or `-XVALUE`.
fn arg_named<'a>(command: &'a clap::Command, word: &str) -> Option<&'a clap::Arg> {
    if let Some(long) = word.strip_prefix("--") {
        let long = long.split('=').next().unwrap_or(long);
        return command.get_arguments().find(|a| {
            a.get_long() == Some(long) || a.get_all_aliases().is_some_and(|all| all.contains(&long))
        });
    }
    let short = word.strip_prefix('-')?.chars().next()?;
    command
        .get_arguments()
        .find(|a| a.get_short() == Some(short))
}

/// Every subcommand's path from the top (`["migrate", "up"]`), help left out.
fn subcommand_paths(command: &clap::Command, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        prefix.push(sub.get_name().to_string());
        out.push(prefix.clone());
        subcommand_paths(sub, prefix, out);
        prefix.pop();
    }
}

/// `args` as a command line with `word` (if any) replaced by `path` and the subcommands the
/// arguments went through (`here`) left out; connection strings and queries as placeholders (`<URL>`,
/// `<SQL>`: they may hold a password), every other word quoted for the shell.
fn command_line(
    word: Option<&str>,
    here: &[String],
    path: &[String],
    args: &[OsString],
) -> Option<String> {
    const HIDDEN: &[(&str, &str)] = &[
        ("--database-url", "<URL>"),
        ("--scratch-url", "<URL>"),
        ("--targets-query", "<SQL>"),
        ("--schemas-query", "<SQL>"),
    ];
    let mut out = vec!["cargo".to_string(), "confiture".to_string()];
    let mut skip: Vec<&str> = here.iter().map(String::as_str).collect();
    let mut replaced = false;
    let mut hide_next: Option<&str> = None;
    let mut given_url = args
        .iter()
        .filter_map(|a| a.to_str())
        .any(|a| a == "--database-url" || a.starts_with("--database-url="));
    let mut previous: Option<&str> = None;
    for arg in args.iter().skip(1) {
        let arg = arg.to_str()?;
        let value_of_a_flag = previous.is_some_and(takes_a_value);
        previous = Some(arg);
        if let Some(placeholder) = hide_next.take() {
            out.push(placeholder.to_string());
            continue;
        }
        if !replaced {
            if let Some(i) = skip.iter().position(|s| *s == arg) {
                skip.remove(i);
                continue;
            }
            if word == Some(arg) {
                out.extend(path.iter().cloned());
                replaced = true;
                continue;
            }
        }
        if let Some((flag, placeholder)) = HIDDEN.iter().find(|(f, _)| arg == *f) {
            out.push(flag.to_string());
            hide_next = Some(*placeholder);
        } else if let Some((flag, placeholder)) = HIDDEN
            .iter()
            .find(|(f, _)| arg.strip_prefix(f).is_some_and(|r| r.starts_with('=')))
        {
            out.push(format!("{flag}={placeholder}"));
        } else if let Some((flag, value)) = with_its_value(arg) {
            // A flag and its value in one word (`-cURL`, `--env=URL`, `--env=local`): the
            // flag kept, the value hidden when it may be a connection string.
            if !confiture::config::names_a_connection(value) {
                out.push(confiture::hint::quote(arg).into_owned());
            } else if flag.starts_with("--") {
                out.push(format!("{flag}=<URL>"));
            } else {
                out.push(format!("{flag} <URL>"));
            }
        } else if confiture::config::names_a_connection(arg) {
            // No flag's value: the database, which `--database-url` names (pasted bare, a
            // usage error again). Given twice, once is enough.
            if !value_of_a_flag && !given_url {
                out.push("--database-url".to_string());
                given_url = true;
            } else if !value_of_a_flag {
                continue;
            }
            out.push("<URL>".to_string());
        } else {
            out.push(confiture::hint::quote(arg).into_owned());
        }
    }
    Some(out.join(" "))
}

/// `arg` as a flag and the value written in the same word, when it is one: `--env=VALUE`
/// (any long flag), `-cVALUE` or `-c=VALUE` (a short flag that takes a value, after any
/// short flags that take none: `-qcVALUE`), as clap reads them.
fn with_its_value(arg: &str) -> Option<(&str, &str)> {
    if let Some(long) = arg.strip_prefix("--") {
        let (flag, _) = long.split_once('=')?;
        return Some((&arg[..flag.len() + 2], &arg[flag.len() + 3..]));
    }
    let shorts = arg.strip_prefix('-')?;
    let (i, short) = shorts
        .char_indices()
        .find(|(_, short)| takes_a_value(&format!("-{short}")))?;
    let end = 1 + i + short.len_utf8();
    let value = &arg[end..];
    let value = value.strip_prefix('=').unwrap_or(value);
    (!value.is_empty()).then_some((&arg[..end], value))
}

/// Whether `arg` is a flag that takes the next word as its value (`-c`, `--env`), written
/// without `=`, by any (sub)command's definition.
fn takes_a_value(arg: &str) -> bool {
    fn find(command: &clap::Command, arg: &str) -> bool {
        let given = |a: &clap::Arg| match arg.strip_prefix("--") {
            Some(long) => {
                a.get_long() == Some(long)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&long))
            }
            None => {
                arg.len() == 2
                    && arg.strip_prefix('-').and_then(|s| s.chars().next()) == a.get_short()
            }
        };
        command
            .get_arguments()
            .any(|a| given(a) && a.get_action().takes_values())
            || command.get_subcommands().any(|sub| find(sub, arg))
    }
    arg.starts_with('-') && !arg.contains('=') && find(&cli::command(), arg)
}

/// The names of the subcommands the arguments went through, as [`reached`] walks them.
fn reached_path(args: &[OsString]) -> Vec<String> {
    walk(args).1
}

/// The (sub)command the arguments reached, built (its global options included).
fn reached(args: &[OsString]) -> clap::Command {
    walk(args).0
}

/// The (sub)command the arguments reached, and the names of the subcommands on the way.
fn walk(args: &[OsString]) -> (clap::Command, Vec<String>) {
    let mut command = cli::command();
    command.build();
    let mut path = Vec::new();
    for arg in args.iter().skip(1).filter_map(|a| a.to_str()) {
        match command.find_subcommand(arg) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                command = sub.clone();
            }
            None if arg == "--" => break,
            None => {}
        }
    }
    (command, path)
}

/// A flag given twice under its two names (`--lock-timeout 5s --lock-wait 1s`: `--lock-timeout`
/// is the old name of `--lock-wait`), or twice under its other name: clap says that
/// `--lock-wait` "cannot be used multiple times", naming a flag the user may not have typed.
/// The error then names the spellings given and says that they are one setting.
fn one_setting_two_names(e: clap::Error, args: &[OsString]) -> clap::Error {
    use clap::error::ErrorKind as K;
    if e.kind() != K::ArgumentConflict {
        return e;
    }
    let command = reached(args);
    let words = words(args);
    let given = |name: &str| {
        words
            .iter()
            .filter(|w| {
                w.strip_prefix("--").is_some_and(|w| {
                    w == name || w.strip_prefix(name).is_some_and(|r| r.starts_with('='))
                })
            })
            .count()
    };
    for arg in command.get_arguments() {
        let (Some(long), Some(aliases)) = (arg.get_long(), arg.get_all_aliases()) else {
            continue;
        };
        let used: Vec<&str> = aliases.into_iter().filter(|a| given(a) > 0).collect();
        let times: usize = given(long) + used.iter().map(|a| given(a)).sum::<usize>();
        if used.is_empty() || times < 2 {
            continue;
        }
        let names = used
            .iter()
            .map(|a| format!("--{a}"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = if given(long) > 0 {
            format!(
                "{names} and --{long} are the same setting ({names} is another name of \
                 --{long}): it was given twice"
            )
        } else {
            format!("{names} (another name of --{long}) was given twice")
        };
        return clap::Error::raw(
            K::ArgumentConflict,
            format!("{message}\n\n  tip: give --{long} once\n"),
        )
        .with_cmd(&command);
    }
    e
}

/// The words before `--`, the program name left out.
fn words(args: &[OsString]) -> Vec<&str> {
    args.iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|w| *w != "--")
        .collect()
}

/// clap's errors that name a flag the user did not type, or blame the wrong word:
/// - `--lock-timeout 5x`: clap names `--lock-wait <DURATION>`, the flag `--lock-timeout` is
///   another name of; the error then names `--lock-timeout`, as typed;
/// - `--steps --env dev`: a flag that takes a value starting with `-` takes `--env` as its
///   value, and clap blames `dev` as an unexpected argument before it checks that value; the
///   error then says that `--env` is a flag given where the value of `--steps` goes, as it
///   does for `--steps --dry-run`.
fn as_typed(mut e: clap::Error, args: &[OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind as K};
    let command = reached(args);
    let words = words(args);
    match e.kind() {
        K::ValueValidation | K::InvalidValue => {
            let (Some(ContextValue::String(named)), Some(ContextValue::String(value))) = (
                e.get(ContextKind::InvalidArg).cloned(),
                e.get(ContextKind::InvalidValue).cloned(),
            ) else {
                return e;
            };
            let gave = |name: &str| {
                words.windows(2).any(|w| w[0] == name && w[1] == value)
                    || words.contains(&format!("{name}={value}").as_str())
            };
            for arg in command.get_arguments() {
                let (Some(long), Some(aliases)) = (arg.get_long(), arg.get_all_aliases()) else {
                    continue;
                };
                let long = format!("--{long}");
                if !named.starts_with(&format!("{long} ")) || gave(&long) {
                    continue;
                }
                if let Some(alias) = aliases.into_iter().find(|a| gave(&format!("--{a}"))) {
                    let typed = named.replacen(&long, &format!("--{alias}"), 1);
                    e.insert(ContextKind::InvalidArg, ContextValue::String(typed));
                }
                return e;
            }
            e
        }
        K::UnknownArgument => {
            for pair in words.windows(2) {
                let Some(name) = pair[0].strip_prefix("--") else {
                    continue;
                };
                let Some(arg) = command.get_arguments().find(|a| {
                    a.get_long() == Some(name)
                        || a.get_all_aliases().is_some_and(|all| all.contains(&name))
                }) else {
                    continue;
                };
                let takes_value = arg.get_action().takes_values();
                if !takes_value || !arg.is_allow_hyphen_values_set() {
                    continue;
                }
                let Err(why) = cli::no_flag(pair[1]) else {
                    continue;
                };
                let value_name = arg
                    .get_value_names()
                    .and_then(|names| names.first())
                    .map_or_else(|| "VALUE".to_string(), |n| n.to_string());
                return clap::Error::raw(
                    K::InvalidValue,
                    format!(
                        "invalid value '{}' for '{} <{value_name}>': {why}\n",
                        pair[1], pair[0]
                    ),
                )
                .with_cmd(&command);
            }
            e
        }
        _ => e,
    }
}

/// A clap error (or `--help`/`--version`): clap's text as it renders it, and with `--format
/// json` also the error document on stdout (the version: its document alone, the help its
/// text). Exit 0 for help and version, else 64 (never 2:
/// that means "tracking table not initialised" to deployment scripts).
/// The error is shown without the passwords `given` on the command line: clap quotes the
/// word it rejects (`unexpected argument 'postgresql://u:pw@h/db'`).
fn argument_error(e: &clap::Error, json: bool, given: &Given) -> u8 {
    use clap::error::ErrorKind as K;
    let text = if e.kind() == K::DisplayVersion {
        "the version"
    } else {
        "the help"
    };
    match e.kind() {
        K::DisplayHelp | K::DisplayVersion if stdio::stdout_was_closed() => {
            // It would go to `/dev/null` (see `stdio`): said, as any result that is lost.
            let _ = writeln!(
                std::io::stderr(),
                "error: {text} could not be written to stdout: stdout was closed when the \
                 command started"
            );
            exit::OUTPUT_FAILED
        }
        K::DisplayHelp | K::DisplayVersion => {
            let written = if json && e.kind() == K::DisplayVersion {
                // `--format json`: one JSON document, the version's too.
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{}", output::version_document()).and_then(|()| stdout.flush())
            } else {
                e.print().and_then(|()| std::io::stdout().flush())
            };
            match written {
                Err(failed) if failed.kind() != std::io::ErrorKind::BrokenPipe => {
                    // `> /dev/full`: lost as a closed stdout's is, and said the same way.
                    let _ = writeln!(
                        std::io::stderr(),
                        "error: {text} could not be written to stdout: {failed}"
                    );
                    exit::OUTPUT_FAILED
                }
                // A reader that went away (`| head`) is no error.
                _ => exit::SUCCESS,
            }
        }
        _ => {
            if given.specs.is_empty() && given.words.is_empty() {
                let _ = e.print();
            } else {
                eprint!("{}", scrubbed(&e.render().to_string(), given));
            }
            if json {
                output::print_json_error(&without_passwords(usage_error(e), given));
            }
            exit::USAGE
        }
    }
}

/// A clap error as the library's usage error: its first line is the message, its `tip:` lines
/// the help, its usage line a detail.
fn usage_error(e: &clap::Error) -> Error {
    use clap::error::ErrorKind as K;
    if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
        // clap renders the help text itself here, not an error line.
        let usage = e
            .render()
            .to_string()
            .lines()
            .find_map(|l| l.strip_prefix("Usage: ").map(str::to_string));
        let mut error = Error::usage("a subcommand is required")
            .with_help("run with --help to see the subcommands");
        if let Some(usage) = usage {
            error = error.with_detail(format!("usage: {usage}"));
        }
        return error;
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim);
    let mut error = Error::usage(message_of(&mut lines));
    let mut help = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        if let Some(tip) = line.strip_prefix("tip: ") {
            help.push(tip.to_string());
        } else if let Some(usage) = line.strip_prefix("Usage: ") {
            error = error.with_detail(format!("usage: {usage}"));
        }
    }
    help.push("run with --help to see the options".to_string());
    error.with_help(help.join("; "))
}

/// The message of a rendered clap error: its first paragraph on one line. Its first line
/// may end with a colon, the items it introduces on the lines below (the missing `<NAME>`,
/// the flags a flag conflicts with): they follow it, joined by commas; any other line of the
/// paragraph (`[possible values: table, json]`) follows it after a space. Takes the
/// paragraph's lines from `lines`.
fn message_of<'a>(lines: &mut impl Iterator<Item = &'a str>) -> String {
    let first = lines.next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let more: Vec<&str> = lines.take_while(|l| !l.is_empty()).collect();
    match (first, more.as_slice()) {
        ("", _) => "invalid arguments".to_string(),
        (first, []) => first.to_string(),
        (first, more) if first.ends_with(':') => format!("{first} {}", more.join(", ")),
        (first, more) => format!("{first} {}", more.join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        std::iter::once("cargo-confiture")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn json_is_found_wherever_format_is_given() {
        for words in [
            &["--format", "json", "migrate", "up"][..],
            &["migrate", "up", "--format=json"],
            &["migrate", "--format", "table", "up", "--format", "json"],
            // Given twice (clap refuses it), or with a wrong value: JSON was asked for.
            &["--format", "json", "--format", "table"],
            &["--format=json", "migrate", "up", "--format", "bogus"],
        ] {
            assert!(wants_json(&args(words)), "{words:?}");
        }
        for words in [
            &["migrate", "up"][..],
            &["--format", "table", "--format", "bogus"],
            &["migrate", "generate", "--", "--format", "json"],
            &["--format"],
            &["--format", "JSON"],
        ] {
            assert!(!wants_json(&args(words)), "{words:?}");
        }
    }

    fn tip(words: &[&str]) -> Option<String> {
        let all = args(words);
        let e = suggest(cli::parse(&all).unwrap_err(), &all);
        usage_error(&e).help
    }

    /// Mistyped subcommands and options get the suggestion every other name gets.
    #[test]
    fn subcommands_and_options_are_suggested_by_the_one_rule() {
        let help = tip(&["lnit"]).unwrap_or_default();
        assert!(help.contains("'lint'"), "{help}");
        let help = tip(&["migrate", "stauts"]).unwrap_or_default();
        assert!(help.contains("'status'"), "{help}");
        let help = tip(&["migrate", "up", "--dry_run"]).unwrap_or_default();
        assert!(help.contains("'--dry-run'"), "{help}");
        let help = tip(&["migrate", "up", "--Target=3"]).unwrap_or_default();
        assert!(help.contains("'--target'"), "{help}");
        // A global option, from a subcommand.
        let help = tip(&["migrate", "status", "--formt", "json"]).unwrap_or_default();
        assert!(help.contains("'--format'"), "{help}");
        // Too far from anything: no tip.
        for words in [&["deploy"][..], &["migrate", "up", "--everything"]] {
            let help = tip(words).unwrap_or_default();
            assert!(!help.contains("similar"), "{words:?}: {help}");
        }
    }

    /// A migration that hits `lock_timeout` or `statement_timeout` gets a help naming the flags
    /// that raise them (`SQL_TIMEOUT_FLAGS`): every command that runs migration SQL — on the
    /// database, or on a scratch database — must take them (`verify` and `drift` did not: the
    /// help's advice was a usage error, exit 64).
    #[test]
    fn every_command_that_runs_migrations_takes_the_timeout_flags_its_help_names() {
        let runs_migrations = ["up", "down", "verify", "drift"];
        for command in runs_migrations {
            for flag in confiture::migrate::SQL_TIMEOUT_FLAGS {
                for words in [
                    &["migrate", command, flag, "5s"][..],
                    &["migrate", command, "--targets", "t.txt", flag, "5s"],
                ] {
                    let parsed = cli::parse(args(words));
                    assert!(parsed.is_ok(), "{words:?}: {:?}", parsed.err());
                }
            }
        }
    }

    #[test]
    fn clap_errors_become_usage_errors_with_their_first_line() {
        let e = cli::parse(args(&["migrate", "up", "--bogus"])).unwrap_err();
        let error = usage_error(&e);
        assert_eq!(error.exit_code(), exit::USAGE);
        assert_eq!(error.message, "unexpected argument '--bogus' found");
        assert!(
            error.details.iter().any(|d| d.starts_with("usage: ")),
            "{error:?}"
        );
        let e = cli::parse(args(&["migrate"])).unwrap_err();
        assert_eq!(usage_error(&e).message, "a subcommand is required");
        // What the first line introduces, on the lines below it, is part of the message.
        let e = cli::parse(args(&["migrate", "generate"])).unwrap_err();
        assert_eq!(
            usage_error(&e).message,
            "the following required arguments were not provided: <NAME>"
        );
        let e = cli::parse(args(&["--color", "purple", "lint"])).unwrap_err();
        let message = usage_error(&e).message;
        assert!(
            message.ends_with("[possible values: auto, always, never]"),
            "{message}"
        );
    }
}
