//! The one colour policy of the programs that colour their output (ntpq's peer table,
//! ntpdate's `--rank`): `--color=always|never` wins; otherwise NO_COLOR (no-color.org)
//! turns colour off, CLICOLOR_FORCE on, CLICOLOR=0 or TERM=dumb off, and the rest is
//! whether standard output is a terminal.

use std::ffi::OsString;
use std::io::IsTerminal;

/// `--color[=WHEN]`: `auto` (the default), `always` or `never`; bare `--color` is `always`.
pub fn arg() -> clap::Arg {
    clap::Arg::new("color")
        .long("color")
        .value_name("WHEN")
        .value_parser(["auto", "always", "never"])
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("always")
        .help(
            "Colour the output: auto (on a terminal, honouring NO_COLOR/CLICOLOR), always or never",
        )
}

/// Whether to colour standard output, given the parsed command line (which must have
/// [`arg`]).
pub fn enabled(m: &clap::ArgMatches) -> bool {
    decide(
        m.get_one::<String>("color").map(String::as_str),
        |name| std::env::var_os(name),
        std::io::stdout().is_terminal(),
    )
}

/// The policy itself, with the environment and the terminal test passed in.
pub fn decide(when: Option<&str>, env: impl Fn(&str) -> Option<OsString>, tty: bool) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    let is = |name: &str, value: &str| env(name).is_some_and(|v| v == value);
    let forced = |name: &str| set(name) && !is(name, "0") && !is(name, "false");
    match when {
        Some("always") => true,
        Some("never") => false,
        _ if set("NO_COLOR") => false,
        _ if forced("CLICOLOR_FORCE") || forced("FORCE_COLOR") => true,
        _ if is("CLICOLOR", "0") || is("TERM", "dumb") => false,
        _ => tty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn terminal_decides_by_default() {
        assert!(decide(None, with(&[]), true));
        assert!(!decide(None, with(&[]), false));
        assert!(decide(Some("auto"), with(&[("TERM", "xterm")]), true));
    }

    #[test]
    fn environment_overrides_the_terminal() {
        assert!(!decide(None, with(&[("NO_COLOR", "1")]), true));
        // an empty NO_COLOR is unset (no-color.org)
        assert!(decide(None, with(&[("NO_COLOR", "")]), true));
        assert!(decide(None, with(&[("CLICOLOR_FORCE", "1")]), false));
        assert!(!decide(None, with(&[("CLICOLOR_FORCE", "0")]), false));
        assert!(decide(None, with(&[("FORCE_COLOR", "1")]), false));
        assert!(!decide(None, with(&[("FORCE_COLOR", "false")]), false));
        assert!(!decide(None, with(&[("CLICOLOR", "0")]), true));
        assert!(!decide(None, with(&[("TERM", "dumb")]), true));
        // NO_COLOR beats CLICOLOR_FORCE
        assert!(!decide(
            None,
            with(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]),
            true
        ));
    }

    #[test]
    fn the_option_beats_everything() {
        let all = [("NO_COLOR", "1"), ("TERM", "dumb")];
        assert!(decide(Some("always"), with(&all), false));
        assert!(!decide(
            Some("never"),
            with(&[("CLICOLOR_FORCE", "1")]),
            true
        ));
    }
}
