//! argv[0] dispatch: called as `ntpq` (or a link named so) it is ntpq; otherwise the
//! umbrella `ntpkit` command, which also runs `ntpkit PROGRAM ARGS…`.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let code = match ntpkit::apps::program_for_argv0(&argv0) {
        // A program always sees its own name as argv[0], whatever the link is called
        // (`ntpkit-ntpq`, a full path), so usage and messages read the same either way.
        Some(program) => {
            let mut args = args;
            args[0] = program.name.into();
            (program.main)(args)
        }
        None => ntpkit::apps::multicall::main(args),
    };
    std::process::exit(code);
}
