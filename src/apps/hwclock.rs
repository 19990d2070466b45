//! `hwclock`: read or set the hardware clock (RTC), with util-linux's flags, output,
//! messages and exit codes. The work is in `rtc::hwclock`.

use super::flag;
use std::ffi::OsString;
use std::io::Write;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::rtc::hwclock::{self, Control, Env, Function, DEFAULT_ADJFILE};
use crate::rtc::sync::Report;
use crate::rtc::sysclock::KernelTimeOfDay;
use crate::rtc::Timeval;

pub fn command() -> Command {
    Command::new("hwclock")
        .about("read or set the hardware clock (RTC)")
        .long_about(
            "Time clocks utility: read or set the hardware clock (RTC) through /dev/rtc, keep \
             the drift data in /etc/adjtime, set the system clock from the RTC. Compatible \
             with util-linux hwclock.",
        )
        .disable_version_flag(true)
        .infer_long_args(true)
        // getopt: an option given again is no error, the last value wins.
        .args_override_self(true)
        .arg(
            flag("show", "display the RTC time (the default)")
                .short('r')
                .long("show"),
        )
        .arg(flag("get", "display drift corrected RTC time").long("get"))
        .arg(flag("set", "set the RTC according to --date").long("set"))
        .arg(
            flag("hctosys", "set the system time from the RTC")
                .short('s')
                .long("hctosys"),
        )
        .arg(
            flag("systohc", "set the RTC from the system time")
                .short('w')
                .long("systohc"),
        )
        .arg(flag("systz", "send timescale configurations to the kernel").long("systz"))
        .arg(
            flag("adjust", "adjust the RTC to account for systematic drift")
                .short('a')
                .long("adjust"),
        )
        .arg(
            flag(
                "predict",
                "predict the drifted RTC time according to --date",
            )
            .long("predict"),
        )
        .arg(
            flag("utc", "the RTC timescale is UTC")
                .short('u')
                .long("utc"),
        )
        .arg(
            flag("localtime", "the RTC timescale is Local")
                .short('l')
                .long("localtime"),
        )
        .arg(
            Arg::new("rtc")
                .short('f')
                .long("rtc")
                .value_name("file")
                .help("use an alternate file to /dev/rtc0")
                .value_hint(clap::ValueHint::FilePath),
        )
        .arg(
            Arg::new("date")
                .long("date")
                .value_name("time")
                .help("date/time input for --set and --predict"),
        )
        .arg(
            Arg::new("delay")
                .long("delay")
                .value_name("sec")
                .help("delay used when set new RTC time"),
        )
        .arg(flag("update-drift", "update the RTC drift factor").long("update-drift"))
        .arg(flag("noadjfile", "do not use /etc/adjtime").long("noadjfile"))
        .arg(
            Arg::new("adjfile")
                .long("adjfile")
                .value_name("file")
                .help("use an alternate file to /etc/adjtime")
                .value_hint(clap::ValueHint::FilePath),
        )
        .arg(flag("test", "dry run; implies --verbose").long("test"))
        .arg(
            flag("verbose", "display more details")
                .short('v')
                .long("verbose"),
        )
        .arg(
            flag("debug", "deprecated: use --verbose")
                .short('D')
                .long("debug"),
        )
        .arg(
            flag(
                "directisa",
                "accepted for compatibility; the RTC is always used through /dev/rtc",
            )
            .long("directisa"),
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::SetTrue)
                .help("display version"),
        )
        .arg(
            Arg::new("extra")
                .num_args(0..)
                .hide(true)
                .value_name("ARGS"),
        )
}

const FUNCTIONS: &[(&str, &str)] = &[
    ("adjust", "--adjust"),
    ("show", "--show"),
    ("hctosys", "--hctosys"),
    ("systohc", "--systohc"),
    ("get", "--get"),
    ("predict", "--predict"),
    ("set", "--set"),
    ("systz", "--systz"),
];

/// Messages to stdout, warnings to stderr as `hwclock: …`.
struct Terminal {
    prog: String,
}

impl Report for Terminal {
    fn info(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
    fn warn(&mut self, line: &str) {
        let _ = std::io::stdout().flush();
        eprintln!("{}: {line}", self.prog);
    }
}

fn usage_error(prog: &str, msg: &str) -> i32 {
    eprintln!("{prog}: {msg}");
    eprintln!("Try '{prog} --help' for more information.");
    1
}

pub fn main(args: Vec<OsString>) -> i32 {
    let startup = Timeval::now();
    let prog = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hwclock".into());
    let matches = match command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return clap_error(&prog, e),
    };
    if matches.get_flag("debug") {
        eprintln!("{prog}: use --verbose, --debug has been deprecated.");
    }
    if matches.get_flag("version") {
        println!("{prog} from ntpkit {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let ctl = match control(&prog, &matches) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut out = Terminal { prog: prog.clone() };
    let mut clock = KernelTimeOfDay;
    let mut env = Env {
        open_rtc: &mut hwclock::open_device,
        clock: &mut clock,
        out: &mut out,
        startup,
        version_line: format!("{prog} from ntpkit {}", env!("CARGO_PKG_VERSION")),
    };
    let rc = hwclock::run(&ctl, &mut env);
    let _ = std::io::stdout().flush();
    rc
}

fn clap_error(prog: &str, e: clap::Error) -> i32 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp => {
            let _ = e.print();
            0
        }
        ErrorKind::UnknownArgument => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::new(),
            };
            if arg.starts_with("--") {
                usage_error(prog, &format!("unrecognized option '{arg}'"))
            } else {
                let c = arg.trim_start_matches('-').chars().next().unwrap_or('?');
                usage_error(prog, &format!("invalid option -- '{c}'"))
            }
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals | ErrorKind::WrongNumberOfValues => {
            let arg = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(s)) => {
                    s.split_whitespace().next().unwrap_or("").to_string()
                }
                _ => String::new(),
            };
            usage_error(prog, &format!("option '{arg}' requires an argument"))
        }
        _ => {
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            usage_error(prog, first)
        }
    }
}

fn control(prog: &str, m: &ArgMatches) -> Result<Control, i32> {
    let extra = m.get_many::<String>("extra").map_or(0, |v| v.count());
    let functions: Vec<&str> = FUNCTIONS
        .iter()
        .filter(|(id, _)| m.get_flag(id))
        .map(|(id, _)| *id)
        .collect();
    let exclusive = |group: &[&str]| {
        eprintln!("{prog}: mutually exclusive arguments: {}", group.join(" "));
        1
    };
    if functions.len() > 1 {
        let names: Vec<&str> = FUNCTIONS.iter().map(|(_, n)| *n).collect();
        return Err(exclusive(&names));
    }
    if m.get_flag("localtime") && m.get_flag("utc") {
        return Err(exclusive(&["--localtime", "--utc"]));
    }
    let noadjfile = m.get_flag("noadjfile");
    if m.contains_id("adjfile") && noadjfile {
        return Err(exclusive(&["--adjfile", "--noadjfile"]));
    }
    if noadjfile && m.get_flag("update-drift") {
        return Err(exclusive(&["--noadjfile", "--update-drift"]));
    }
    if extra > 0 {
        return Err(usage_error(
            prog,
            &format!("{extra} too many arguments given"),
        ));
    }
    let function = match functions.first().copied() {
        Some("adjust") => Function::Adjust,
        Some("hctosys") => Function::HcToSys,
        Some("systohc") => Function::SysToHc,
        Some("get") => Function::Get,
        Some("predict") => Function::Predict,
        Some("set") => Function::Set,
        Some("systz") => Function::SysTz,
        _ => Function::Show,
    };
    let delay = match m.get_one::<String>("delay") {
        Some(s) => match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                eprintln!("{prog}: invalid --delay argument: '{s}'");
                return Err(1);
            }
        },
        None => None,
    };
    let testing = m.get_flag("test");
    let ctl = Control {
        function,
        utc: m.get_flag("utc"),
        localtime: m.get_flag("localtime"),
        rtc_path: m.get_one::<String>("rtc").cloned(),
        adjfile: m
            .get_one::<String>("adjfile")
            .cloned()
            .unwrap_or_else(|| DEFAULT_ADJFILE.to_string()),
        noadjfile,
        update_drift: m.get_flag("update-drift"),
        delay,
        testing,
        verbose: testing || m.get_flag("verbose"),
        date: None,
    };
    if ctl.update_drift && !matches!(function, Function::Set | Function::SysToHc) {
        eprintln!("{prog}: --update-drift requires --set or --systohc");
        return Err(1);
    }
    if noadjfile && !ctl.utc && !ctl.localtime {
        eprintln!("{prog}: With --noadjfile, you must specify either --utc or --localtime");
        return Err(1);
    }
    let mut ctl = ctl;
    if matches!(function, Function::Set | Function::Predict) {
        let Some(text) = m.get_one::<String>("date") else {
            eprintln!("{prog}: --date is required for --set or --predict");
            return Err(1);
        };
        match hwclock::parse_date(text) {
            Some(t) => ctl.date = Some(t),
            None => {
                eprintln!("{prog}: invalid date '{text}'");
                return Err(1);
            }
        }
    }
    Ok(ctl)
}
