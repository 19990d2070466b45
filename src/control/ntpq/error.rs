//! What an ntpq command can fail with, worded as ntpq words it: the interpreter prints
//! the message on stderr and goes on with the next command.

use crate::control::client::Error;

/// A command that could not run (a request that failed is reported by the command
/// itself, as ntpq does, and is not one of these).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("***Command `{0}' unknown")]
    Unknown(String),
    #[error("***Command `{0}' ambiguous")]
    Ambiguous(String),
    #[error("***No host open, use `host' command")]
    NoHost,
    /// Neither mode 6 nor chronyd's cmdmon answered the probe (`--protocol auto`): the
    /// mode 6 timeout, with a hint when a remote chronyd may just not allow us.
    #[error("{}{}", Error::Timeout, cmdallow_hint(.chronyd_silent_remote))]
    NoAnswer { chronyd_silent_remote: bool },
    #[error("***Illegal index value {0}")]
    IllegalIndex(String),
    #[error("***Association index `{0}' invalid/undecodable")]
    BadIndex(usize),
    #[error("***Association value `{0}' invalid/undecodable")]
    BadAssociation(String),
    #[error("***Command `clockvar' is not available from chronyd")]
    ClockvarFromChronyd,
    #[error("***Command `{0}' is not available from chronyd (cmdmon has no equivalent)")]
    NotFromChronyd(&'static str),
    #[error("***Command `writevar' requires arguments")]
    WritevarNeedsArguments,
}

fn cmdallow_hint(chronyd_silent_remote: &bool) -> &'static str {
    if *chronyd_silent_remote {
        // chronyd ignores hosts its cmdallow does not list: this may be one
        " (nor did chronyd's cmdmon port 323 answer: chronyd answers only hosts its \
         cmdallow directives list)"
    } else {
        ""
    }
}
