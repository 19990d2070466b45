//! The umbrella `ntpkit` command: `ntpkit PROGRAM ARGS…`, `--list`, `install-links`,
//! `completion` and `manpage`.

use anyhow::{bail, Context};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};

pub fn command() -> Command {
    let programs: Vec<&str> = super::PROGRAMS.iter().map(|p| p.name).collect();
    Command::new("ntpkit")
        .version(env!("CARGO_PKG_VERSION"))
        .about("ntpd, ntpdate, ntpq, ntpstat and hwclock in one binary")
        .after_help(
            "Run a program as `ntpkit PROGRAM ARGS…`, or through a link named after it \
             (see `ntpkit install-links`).",
        )
        .arg(
            Arg::new("list")
                .long("list")
                .action(ArgAction::SetTrue)
                .help("List the programs this binary provides"),
        )
        .subcommand(
            Command::new("install-links")
                .about("Create links named ntpd, ntpdate, ntpq, ntpstat, hwclock in DIR")
                .arg(Arg::new("dir").required(true).value_name("DIR"))
                .arg(
                    Arg::new("hard")
                        .long("hard")
                        .action(ArgAction::SetTrue)
                        .help("Hard links instead of symbolic links"),
                )
                .arg(
                    Arg::new("force")
                        .long("force")
                        .action(ArgAction::SetTrue)
                        .help("Replace files that are not already links to this binary"),
                ),
        )
        .subcommand(
            Command::new("completion")
                .about("Print a shell completion script for a program")
                .arg(
                    Arg::new("program")
                        .required(true)
                        .value_parser(programs.clone()),
                )
                .arg(
                    Arg::new("shell")
                        .required(true)
                        .value_parser(clap::value_parser!(clap_complete::Shell)),
                ),
        )
        .subcommand(
            Command::new("manpage")
                .about("Print the man page (roff) of a program")
                .arg(Arg::new("program").required(true).value_parser(programs)),
        )
}

pub fn main(args: Vec<OsString>) -> i32 {
    // `ntpkit PROGRAM ARGS…`: the program sees PROGRAM as its argv[0].
    if let Some(program) = args.get(1).and_then(|a| a.to_str()).and_then(super::find) {
        return (program.main)(args[1..].to_vec());
    }
    let matches = match super::matches_or_exit(command(), &args) {
        Ok(m) => m,
        Err(code) => return code,
    };
    if matches.get_flag("list") {
        for p in super::PROGRAMS {
            println!("{:<8} {}", p.name, p.about);
        }
        return 0;
    }
    match matches.subcommand() {
        Some(("install-links", m)) => {
            let dir = PathBuf::from(m.get_one::<String>("dir").expect("required"));
            match install_links(&dir, m.get_flag("hard"), m.get_flag("force")) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("ntpkit: install-links: {e:#}");
                    1
                }
            }
        }
        Some(("completion", m)) => {
            let program = super::find(m.get_one::<String>("program").expect("required"))
                .expect("validated by clap");
            let shell = *m
                .get_one::<clap_complete::Shell>("shell")
                .expect("required");
            print!("{}", completion(program, shell));
            0
        }
        Some(("manpage", m)) => {
            let program = super::find(m.get_one::<String>("program").expect("required"))
                .expect("validated by clap");
            let _ = std::io::stdout().write_all(&manpage(program));
            0
        }
        _ => {
            let _ = command().print_help();
            println!();
            2
        }
    }
}

/// The completion script for `program` in `shell`, as committed under `completions/`.
pub fn completion(program: &super::Program, shell: clap_complete::Shell) -> String {
    let mut cmd = (program.command)();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, program.name, &mut out);
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}

/// The roff man page for `program`, as committed under `man/`.
pub fn manpage(program: &super::Program) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new((program.command)())
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    out
}

/// The programs `install-links` makes links for.
const LINKED: &[&str] = &["ntpd", "ntpdate", "ntpq", "ntpstat", "hwclock"];

fn install_links(dir: &Path, hard: bool, force: bool) -> anyhow::Result<()> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .context("cannot find this binary")?;
    if !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    // the drop-in names only: `exporter` and the like are run as `ntpkit PROGRAM`, a link
    // with such a generic name in /usr/bin would be a nuisance
    for p in super::PROGRAMS.iter().filter(|p| LINKED.contains(&p.name)) {
        let link = dir.join(p.name);
        if already_links_to(&link, &exe, hard) {
            continue;
        }
        if link.symlink_metadata().is_ok() {
            if !force {
                bail!(
                    "{}: exists and is not a link to {} (use --force to replace it)",
                    link.display(),
                    exe.display()
                );
            }
            std::fs::remove_file(&link)
                .with_context(|| format!("{}: cannot remove", link.display()))?;
        }
        let made = if hard {
            std::fs::hard_link(&exe, &link)
        } else {
            std::os::unix::fs::symlink(&exe, &link)
        };
        made.with_context(|| link.display().to_string())?;
    }
    Ok(())
}

fn already_links_to(link: &Path, exe: &Path, hard: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    if hard {
        match (link.symlink_metadata(), exe.metadata()) {
            (Ok(a), Ok(b)) => {
                !a.file_type().is_symlink() && a.dev() == b.dev() && a.ino() == b.ino()
            }
            _ => false,
        }
    } else {
        std::fs::read_link(link).map(|t| t == exe).unwrap_or(false)
    }
}
