//! Where a configuration problem is, and how bad it is.
//!
//! Every message about a config, keys or drift file names its place as `file:line` (and
//! `:column` for syntax errors), like a compiler, so an operator can jump straight to it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in a configuration file. Lines and columns count from 1.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    /// Present for syntax errors that point at one token.
    pub column: Option<usize>,
}

impl Location {
    pub fn new(file: &Path, line: usize, column: Option<usize>) -> Location {
        Location {
            file: file.to_path_buf(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)?;
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The line was understood but not (fully) acted on: an unknown keyword (line skipped,
    /// as ntpd does), a directive ntpkit does not implement, a value clamped into range.
    Warning,
    /// The line is malformed (bad number, missing argument, bad address) and was skipped.
    Error,
}

/// One message about a configuration line. The line it names was skipped unless the
/// message says otherwise; loading carries on, as ntpd does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    pub message: String,
}

impl Diagnostic {
    pub fn warning(location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            location,
            message: message.into(),
        }
    }
    pub fn error(location: Location, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            location,
            message: message.into(),
        }
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line[:column]: warning|error: message`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {sev}: {}", self.location, self.message)
    }
}

/// A problem that stops the configuration from loading at all.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The main configuration file (or a drift/keys file) cannot be read.
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An `includefile` names a file that cannot be read.
    #[error("{at}: includefile {}: {source}", path.display())]
    IncludeUnreadable {
        at: Location,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `includefile` nested deeper than ntpd allows (5 levels below the main file).
    #[error("{at}: includefile {}: nested more than {max} levels deep", path.display())]
    IncludeTooDeep {
        at: Location,
        path: PathBuf,
        max: usize,
    },
    /// A file that must be well-formed as a whole (drift file) is not.
    #[error("{at}: {message}")]
    Malformed { at: Location, message: String },
}
