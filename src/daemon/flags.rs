//! The command line's share of the configuration: flags that have a configuration-file twin
//! (`-f driftfile`, `-k keys`, `-s statsdir`, `-t trustedkey`, `--var`/`--dvar` setvar,
//! servers named after the options) folded into the parsed [`Config`]. As in ntp.org, the
//! flag wins where both name one thing, and `-t` adds to the file's trusted keys.

use std::path::Path;

use super::settings::Options;
use crate::config::{Config, SetVar};

/// Where messages about the command line point.
pub const ORIGIN: &str = "(command line)";

/// Fold `opts` into `config`. Returns messages about flag values that were not used.
pub fn overlay(config: &mut Config, opts: &Options) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(p) = &opts.driftfile {
        config.driftfile = Some(p.clone());
    }
    if let Some(p) = &opts.keyfile {
        config.keys_file = Some(p.clone());
        config.keys_at = Some(crate::config::Location::new(Path::new(ORIGIN), 1, None));
    }
    if let Some(p) = &opts.statsdir {
        config.statsdir = Some(p.clone());
    }
    for k in &opts.trusted_keys {
        if !config.is_trusted_key(*k) {
            config.trusted_keys.push(*k..=*k);
        }
    }
    for (list, default, flag) in [(&opts.vars, false, "--var"), (&opts.dvars, true, "--dvar")] {
        for v in list {
            match setvar(v, default) {
                Some(s) => {
                    // a later setting of the same name replaces the earlier one
                    config.setvars.retain(|old| old.name != s.name);
                    config.setvars.push(s);
                }
                None => problems.push(format!(
                    "{flag} {v:?}: expected NAME=VALUE (NAME: letters, digits, '_', '.', '-'); ignored"
                )),
            }
        }
    }
    if !opts.servers.is_empty() {
        // `server NAME iburst` lines, through the file parser so that addresses, names and
        // refclock addresses mean what they mean there; formed before the file's (NTPsec)
        let text: String = opts
            .servers
            .iter()
            .map(|s| format!("server {s} iburst\n"))
            .collect();
        match Config::parse_str(&text, Path::new(ORIGIN)) {
            Ok((c, diags)) => {
                problems.extend(diags.iter().map(|d| d.to_string()));
                let mut assocs = c.associations;
                assocs.append(&mut config.associations);
                config.associations = assocs;
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    problems
}

/// `NAME=VALUE` as ntpd's `--var` takes it; surrounding quotes on the value are dropped.
fn setvar(arg: &str, default: bool) -> Option<SetVar> {
    let (name, value) = arg.split_once('=')?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return None;
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Some(SetVar {
        name: name.to_string(),
        value: value.to_string(),
        default,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Target;
    use std::path::PathBuf;

    fn parse(text: &str) -> Config {
        Config::parse_str(text, Path::new("ntp.conf")).unwrap().0
    }

    #[test]
    fn flags_win_over_their_configuration_twins() {
        let mut c = parse(
            "driftfile /var/lib/ntp/drift\nkeys /etc/ntp/keys\nstatsdir /var/log/ntpstats/\ntrustedkey 1\n",
        );
        let opts = Options {
            driftfile: Some("/tmp/d".into()),
            keyfile: Some("/tmp/k".into()),
            statsdir: Some("/tmp/s".into()),
            trusted_keys: vec![1, 7],
            ..Options::default()
        };
        assert!(overlay(&mut c, &opts).is_empty());
        assert_eq!(c.driftfile, Some(PathBuf::from("/tmp/d")));
        assert_eq!(c.keys_file, Some(PathBuf::from("/tmp/k")));
        assert_eq!(c.statsdir, Some(PathBuf::from("/tmp/s")));
        assert!(c.is_trusted_key(1) && c.is_trusted_key(7) && !c.is_trusted_key(2));
        assert_eq!(c.trusted_keys.len(), 2, "-t 1 again adds nothing");
    }

    #[test]
    fn without_flags_the_file_stands() {
        let mut c = parse("driftfile /var/lib/ntp/drift\nkeys /etc/ntp/keys\n");
        let before = c.clone();
        assert!(overlay(&mut c, &Options::default()).is_empty());
        assert_eq!(c, before);
    }

    #[test]
    fn var_and_dvar_become_setvars() {
        let mut c = parse("setvar owner = \"file\"\n");
        let opts = Options {
            vars: vec!["owner=flag".into(), "site=\"lab 3\"".into()],
            dvars: vec!["rack=B7".into()],
            ..Options::default()
        };
        assert!(overlay(&mut c, &opts).is_empty());
        let got: Vec<(&str, &str, bool)> = c
            .setvars
            .iter()
            .map(|s| (s.name.as_str(), s.value.as_str(), s.default))
            .collect();
        assert_eq!(
            got,
            [
                ("owner", "flag", false),
                ("site", "lab 3", false),
                ("rack", "B7", true)
            ]
        );
        let bad = Options {
            vars: vec!["novalue".into(), "=x".into(), "a b=c".into()],
            ..Options::default()
        };
        let problems = overlay(&mut c, &bad);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("--var \"novalue\""), "{problems:?}");
    }

    #[test]
    fn servers_after_the_options_come_first_with_iburst() {
        let mut c = parse("server 192.0.2.1\n");
        let opts = Options {
            servers: vec!["198.51.100.7".into(), "ntp.example.net".into()],
            ..Options::default()
        };
        assert!(overlay(&mut c, &opts).is_empty());
        let targets: Vec<&Target> = c.associations.iter().map(|a| &a.target).collect();
        assert_eq!(
            targets,
            [
                &Target::Address("198.51.100.7".parse().unwrap()),
                &Target::Name("ntp.example.net".into()),
                &Target::Address("192.0.2.1".parse().unwrap()),
            ]
        );
        assert!(c.associations[0].iburst && c.associations[1].iburst);
        assert!(!c.associations[2].iburst);
        assert_eq!(c.associations[0].location.file, PathBuf::from(ORIGIN));

        let bad = Options {
            servers: vec!["a,b".into()],
            ..Options::default()
        };
        let problems = overlay(&mut c, &bad);
        assert!(
            problems.iter().any(|p| p.starts_with("(command line):1")),
            "{problems:?}"
        );
    }
}
