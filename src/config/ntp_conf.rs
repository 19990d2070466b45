//! Reading ntp.conf (and its `includefile`s) into a [`Config`].
//!
//! Behaviour follows ntpd's: keywords are case-sensitive; an unknown keyword is a warning
//! and its line is skipped; a malformed line is an error diagnostic (`file:line:column`)
//! and is skipped; loading carries on either way and the caller decides what to do with
//! the diagnostics (ntpd logs them and runs). Only an unreadable main file stops loading;
//! a bad `includefile` (missing, or nested more than 5 deep) is an error diagnostic naming
//! the `includefile` line, and loading goes on without it, as in ntpd.
//!
//! Directives ntpkit does not implement (broadcast, manycast, Autokey, other refclock
//! drivers, …) are recognised and reported as warnings, never silently dropped.
//!
//! Relative `includefile` paths are taken relative to the directory of the file that
//! includes them (NTPsec's rule; ntp.org uses the working directory, which for a daemon is
//! `/`). An included directory reads its `*.conf` files in name order (NTPsec).

mod access;
mod associations;
mod files;
mod system;

use super::args::{is_hostname, parse_ip, Args, LineResult};
use super::compat::{self, Section, Support};
use super::diagnostic::{ConfigError, Diagnostic, Location};
use super::lexer::{self, Token};
use super::model::*;
use super::restrict::{prefix_mask, RestrictEntry, RestrictFlags, Restrictions};
use access::parse_cidr;
use associations::merge_fudge;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// ntpd's `MAXINCLUDELEVEL`: includes may nest this many levels below the main file.
pub const MAX_INCLUDE_DEPTH: usize = 5;

/// Directive keywords the parser acts on itself (the compatibility table lists them all;
/// the table's other directives are "accepted, not implemented").
const PARSED: &[&str] = &[
    "server",
    "pool",
    "peer",
    "fudge",
    "restrict",
    "discard",
    "driftfile",
    "nonvolatile",
    "keys",
    "trustedkey",
    "requestkey",
    "controlkey",
    "includefile",
    "enable",
    "disable",
    "statistics",
    "statsdir",
    "filegen",
    "logfile",
    "logconfig",
    "pidfile",
    "tinker",
    "tos",
    "leapfile",
    "interface",
    "nic",
    "rtcsync",
    "hwtimestamp",
    "mru",
    "setvar",
    "metrics",
    "nts",
];

impl Config {
    /// Read `path` and everything it includes.
    pub fn load(path: &Path) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
        let text = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse_str(&String::from_utf8_lossy(&text), path)
    }

    /// Parse `text` as if read from the file `origin` (used in messages and to resolve
    /// relative `includefile` paths, which are still read from disk).
    pub fn parse_str(text: &str, origin: &Path) -> Result<(Config, Vec<Diagnostic>), ConfigError> {
        let mut p = Parser::default();
        p.file(text, origin, 0)?;
        Ok(p.finish())
    }

    /// The configuration used when there is no config file: the public pool with iburst
    /// and the restrict defaults of a stock ntp.conf (`restrict default kod nomodify
    /// notrap nopeer noquery`, full access from 127.0.0.1 and ::1). No local clock.
    pub fn default_builtin() -> Config {
        let text = "\
pool 0.pool.ntp.org iburst
pool 1.pool.ntp.org iburst
pool 2.pool.ntp.org iburst
pool 3.pool.ntp.org iburst
restrict default kod nomodify notrap nopeer noquery
restrict 127.0.0.1
restrict ::1
";
        let mut p = Parser::default();
        for cmd in lexer::commands(text) {
            // The built-in text has no includes, so this cannot fail.
            let _ = p.command(&cmd.tokens, Path::new("(built-in)"), cmd.line, 0);
        }
        let (mut c, diags) = p.finish();
        debug_assert!(diags.is_empty(), "{diags:?}");
        c.builtin = true;
        c
    }
}

#[derive(Default)]
struct Parser {
    config: Config,
    diags: Vec<Diagnostic>,
    /// Keywords already reported as "accepted, not implemented" (once per load).
    noted: std::collections::HashSet<(Section, &'static str)>,
    /// `fudge` lines, applied to their refclock associations at the end (any order).
    fudges: Vec<(u8, u8, Fudge, Location)>,
}

impl Parser {
    fn finish(mut self) -> (Config, Vec<Diagnostic>) {
        for (driver, unit, f, loc) in std::mem::take(&mut self.fudges) {
            let target = Target::Refclock { driver, unit };
            let mut found = false;
            for a in self.config.associations.iter_mut() {
                if a.target == target {
                    found = true;
                    merge_fudge(&mut a.fudge, &f);
                }
            }
            if !found {
                self.diags.push(Diagnostic::warning(
                    loc,
                    format!(
                        "fudge 127.127.{driver}.{unit} without a 'server 127.127.{driver}.{unit}' line; ignored"
                    ),
                ));
            }
        }
        (self.config, self.diags)
    }

    fn file(&mut self, text: &str, path: &Path, depth: usize) -> Result<(), ConfigError> {
        for cmd in lexer::commands(text) {
            self.command(&cmd.tokens, path, cmd.line, depth)?;
        }
        Ok(())
    }

    /// One command. Line-level problems become diagnostics; only include failures are
    /// returned as fatal errors.
    fn command(
        &mut self,
        tokens: &[Token],
        file: &Path,
        line: usize,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let mut args = Args::new(file, line, tokens);
        let Some(kw) = args.next_keyword() else {
            return Ok(());
        };
        if kw.text == "includefile" && !kw.quoted {
            // ntpd logs an include it cannot read (CentOS's stock `includefile
            // /etc/ntp/crypto/pw` on a host without it) and carries on
            return match self.include(&mut args, depth) {
                Err(ConfigError::IncludeUnreadable { at, path, source }) => {
                    self.diags.push(Diagnostic::error(
                        at,
                        format!("includefile {}: {source}; skipped", path.display()),
                    ));
                    Ok(())
                }
                Err(ConfigError::IncludeTooDeep { at, path, max }) => {
                    self.diags.push(Diagnostic::error(
                        at,
                        format!(
                            "includefile {}: nested more than {max} levels deep; skipped",
                            path.display()
                        ),
                    ));
                    Ok(())
                }
                other => other,
            };
        }
        if let Err(d) = self.directive(kw, &mut args) {
            self.diags.push(d);
        }
        Ok(())
    }

    fn include(&mut self, args: &mut Args, depth: usize) -> Result<(), ConfigError> {
        let tok = match args.path("file name after includefile") {
            Ok(t) => t,
            Err(d) => {
                self.diags.push(d);
                return Ok(());
            }
        };
        self.end_line(args);
        let at = args.location(Some(tok.column));
        let mut path = PathBuf::from(&tok.text);
        if path.is_relative() {
            if let Some(dir) = args.file.parent() {
                path = dir.join(path);
            }
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeTooDeep {
                at,
                path,
                max: MAX_INCLUDE_DEPTH,
            });
        }
        let unreadable = |source| ConfigError::IncludeUnreadable {
            at: at.clone(),
            path: path.clone(),
            source,
        };
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(unreadable)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf") && p.is_file())
                .collect();
            files.sort();
            for f in files {
                let text = std::fs::read(&f).map_err(|source| ConfigError::IncludeUnreadable {
                    at: at.clone(),
                    path: f.clone(),
                    source,
                })?;
                self.file(&String::from_utf8_lossy(&text), &f, depth + 1)?;
            }
            return Ok(());
        }
        // Only regular files: a device or FIFO (/dev/zero, /dev/stdin) would never end.
        match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => {
                return Err(unreadable(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a regular file or directory",
                )))
            }
            Err(e) => return Err(unreadable(e)),
            Ok(_) => {}
        }
        let text = std::fs::read(&path).map_err(unreadable)?;
        self.file(&String::from_utf8_lossy(&text), &path, depth + 1)
    }

    /// One directive line, by family; each family's parser takes the rest of the line.
    fn directive(&mut self, kw: &Token, a: &mut Args) -> LineResult<()> {
        if kw.quoted {
            return Err(a.error_at(kw, format!("expected a keyword, found \"{}\"", kw.text)));
        }
        match kw.text.as_str() {
            "server" => self.association(AssociationKind::Server, a),
            "pool" => self.association(AssociationKind::Pool, a),
            "peer" => self.association(AssociationKind::Peer, a),
            "fudge" => self.fudge(a),
            "restrict" => self.restrict(a),
            "discard" => self.discard(a),
            "trustedkey" => self.trustedkey(a),
            "keys" | "requestkey" | "controlkey" => self.keys(kw, a),
            "driftfile" => self.driftfile(a),
            "statsdir" | "logfile" | "pidfile" | "leapfile" => self.file_path(kw, a),
            "nonvolatile" | "logconfig" | "rtcsync" => self.clock_and_log(kw, a),
            "enable" | "disable" => self.enable(kw.text == "enable", a),
            "statistics" => self.statistics(a),
            "filegen" => self.filegen(a),
            "tinker" => self.tinker(a),
            "tos" => self.tos(a),
            "interface" | "nic" => self.interface(a),
            "mru" => self.mru(a),
            "setvar" => self.setvar(a),
            "metrics" => self.metrics(a),
            "nts" => super::nts::parse_line(&mut self.config.nts, a, &mut self.diags),
            "hwtimestamp" => self.hwtimestamp(a),
            _ => {
                self.not_parsed(kw, a);
                Ok(())
            }
        }
    }

    /// A keyword the parser does not act on: "accepted, not implemented" when the
    /// compatibility table knows it, otherwise an unknown keyword (with a hint when only
    /// its case is wrong). Either way the line is dropped.
    fn not_parsed(&mut self, kw: &Token, a: &Args) {
        let w = kw.text.as_str();
        if let Some(row) = compat::lookup(Section::Directive, w) {
            if row.support == Support::Warned && !PARSED.contains(&w) {
                self.note(a, Section::Directive, kw);
                return;
            }
        }
        let lower = w.to_ascii_lowercase();
        let hint = if lower != w && compat::lookup(Section::Directive, &lower).is_some() {
            format!(" (keywords are case-sensitive: did you mean '{lower}'?)")
        } else {
            String::new()
        };
        self.diags.push(Diagnostic::warning(
            a.location(Some(kw.column)),
            format!("unknown keyword '{w}'{hint}; line ignored"),
        ));
    }

    /// Report `tok` once per load if the compatibility table says it is accepted but not
    /// implemented.
    fn note(&mut self, a: &Args, section: Section, tok: &Token) {
        self.note_name(a, section, &tok.text, tok.column);
    }

    fn note_name(&mut self, a: &Args, section: Section, name: &str, column: usize) {
        let Some(row) = compat::lookup(section, name) else {
            return;
        };
        // a directive ignored as a whole is reported on every line it drops
        let whole_line = section == Section::Directive && !PARSED.contains(&row.name);
        if row.support != Support::Warned || !(self.noted.insert((section, row.name)) || whole_line)
        {
            return;
        }
        let what = match section {
            Section::Directive | Section::System => format!("'{}'", row.name),
            Section::Association => format!("server option '{}'", row.name),
            Section::Fudge => format!("fudge option '{}'", row.name),
            Section::Restrict => format!("restrict flag '{}'", row.name),
            Section::Tinker => format!("'tinker {}'", row.name),
            Section::Tos => format!("'tos {}'", row.name),
            Section::Statistics => format!("statistics '{}'", row.name),
            Section::Filegen => format!("filegen option '{}'", row.name),
            Section::Discard => format!("'discard {}'", row.name),
            Section::Mru => format!("'mru {}'", row.name),
            Section::KeyType => format!("key type '{}'", row.name),
        };
        self.diags.push(Diagnostic::warning(
            a.location(Some(column)),
            format!("{what} accepted, not implemented by ntpkit: {}", row.note),
        ));
    }

    /// The end of a directive: anything left on the line is skipped with a warning per
    /// token and the directive stands, as NTPsec's parser keeps a command that is complete
    /// when an unexpected token comes.
    fn end_line(&mut self, a: &mut Args) {
        let rest = a.rest();
        self.skipped(a, rest, "not part of the directive");
    }

    /// `first` (already taken) and the rest of the line are skipped, each with a warning;
    /// what came before them stands.
    fn skip_from(&mut self, a: &mut Args, first: &Token, why: &str) {
        let rest = a.rest();
        self.skipped(a, std::slice::from_ref(first), why);
        self.skipped(a, rest, "after a skipped word");
    }

    fn skipped(&mut self, a: &Args, tokens: &[Token], why: &str) {
        for t in tokens {
            self.diags.push(Diagnostic::warning(
                a.location(Some(t.column)),
                format!(
                    "'{}' skipped ({why}); the line is kept up to it, as ntpd does",
                    t.text
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests;
