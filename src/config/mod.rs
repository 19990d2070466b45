//! ntp.conf (with includefile), keys file and drift file. Errors carry file:line.
mod args;
pub mod compat;
pub mod diagnostic;
pub mod drift;
pub mod keys_file;
pub mod lexer;
pub mod manual;
pub mod model;
pub mod ntp_conf;
pub mod nts;
pub mod restrict;

pub use diagnostic::{ConfigError, Diagnostic, Location, Severity};
pub use model::*;
pub use restrict::{RestrictEntry, RestrictFlags, Restrictions};
