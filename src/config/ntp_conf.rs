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

use super::args::{is_hostname, parse_ip, Args, LineResult};
use super::compat::{self, Section, Support};
use super::diagnostic::{ConfigError, Diagnostic, Location};
use super::lexer::{self, Token};
use super::model::*;
use super::restrict::{prefix_mask, RestrictEntry, RestrictFlags, Restrictions};
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
            "driftfile" => {
                // ntp.org: no argument disables the drift file; an optional second
                // argument is the wander threshold, which ntpkit does not use.
                let Some(p) = a.next() else {
                    self.config.driftfile = None;
                    return Ok(());
                };
                if a.peek()
                    .is_some_and(|t| super::args::parse_float(&t.text).is_some())
                {
                    a.float("drift wander threshold")?;
                }
                self.end_line(a);
                self.config.driftfile = Some(PathBuf::from(&p.text));
                Ok(())
            }
            "nonvolatile" => {
                let v = a.float("nonvolatile threshold")?;
                self.end_line(a);
                self.config.nonvolatile = Some(v);
                self.note(a, Section::Directive, kw);
                Ok(())
            }
            "keys" => {
                let p = a.path("keys file name")?;
                self.end_line(a);
                self.config.keys_file = Some(PathBuf::from(&p.text));
                self.config.keys_at = Some(a.location(Some(p.column)));
                Ok(())
            }
            "trustedkey" => self.trustedkey(a),
            "requestkey" | "controlkey" => {
                let id = a.uint("key id", 1, 65535)? as u32;
                self.end_line(a);
                if kw.text == "requestkey" {
                    self.note(a, Section::Directive, kw);
                    self.config.request_key = Some(id);
                } else {
                    self.config.control_key = Some(id);
                }
                Ok(())
            }
            "enable" | "disable" => self.enable(kw.text == "enable", a),
            "statistics" => self.statistics(a),
            "statsdir" => {
                let p = a.path("statistics directory")?;
                self.end_line(a);
                self.config.statsdir = Some(PathBuf::from(&p.text));
                Ok(())
            }
            "filegen" => self.filegen(a),
            "logfile" => {
                let p = a.path("log file name")?;
                self.end_line(a);
                self.config.logfile = Some(PathBuf::from(&p.text));
                Ok(())
            }
            "logconfig" => {
                let items: Vec<String> = a.rest().iter().map(|t| t.text.clone()).collect();
                if items.is_empty() {
                    a.expect("logconfig items")?;
                }
                self.config.logconfig.extend(items);
                self.note(a, Section::Directive, kw);
                Ok(())
            }
            "pidfile" => {
                let p = a.path("pid file name")?;
                self.end_line(a);
                self.config.pidfile = Some(PathBuf::from(&p.text));
                Ok(())
            }
            "leapfile" => {
                let p = a.path("leap seconds file name")?;
                self.end_line(a);
                self.config.leapfile = Some(PathBuf::from(&p.text));
                Ok(())
            }
            "tinker" => self.tinker(a),
            "tos" => self.tos(a),
            "interface" | "nic" => self.interface(a),
            "rtcsync" => {
                self.end_line(a);
                self.config.rtcsync = true;
                Ok(())
            }
            "mru" => self.mru(a),
            "setvar" => self.setvar(a),
            "metrics" => self.metrics(a),
            "nts" => super::nts::parse_line(&mut self.config.nts, a, &mut self.diags),
            "hwtimestamp" => self.hwtimestamp(a),
            w => {
                if let Some(row) = compat::lookup(Section::Directive, w) {
                    if row.support == Support::Warned && !PARSED.contains(&w) {
                        self.note(a, Section::Directive, kw);
                        return Ok(());
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
                Ok(())
            }
        }
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

    /// chronyd's `hwtimestamp IFACE|* [option…]`: hardware timestamps on an interface (all
    /// with `*`). Its options are taken with their values and have no effect here.
    fn hwtimestamp(&mut self, a: &mut Args) -> LineResult<()> {
        let iface = a.expect("interface name or * after hwtimestamp")?;
        self.config.hwtimestamp.push(iface.text.clone());
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "nocrossts" => {}
                "minpoll" | "minsamples" | "maxsamples" | "precision" | "txcomp" | "rxcomp"
                | "rxfilter" => {
                    a.expect(&format!("a value after {}", opt.text))?;
                }
                _ => {
                    self.skip_from(a, opt, "not a hwtimestamp option");
                    break;
                }
            }
        }
        Ok(())
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

    fn association(&mut self, kind: AssociationKind, a: &mut Args) -> LineResult<()> {
        let mut family = None;
        let mut tok = a.expect("server address")?;
        while !tok.quoted && (tok.text == "-4" || tok.text == "-6") {
            family = Some(if tok.text == "-4" {
                AddressFamily::V4
            } else {
                AddressFamily::V6
            });
            tok = a.expect("server address")?;
        }
        let target = parse_target(a, tok)?;
        if let (Some(fam), Target::Address(ip)) = (family, &target) {
            if (fam == AddressFamily::V4) != ip.is_ipv4() {
                return Err(a.error_at(tok, format!("address {ip} does not match the -4/-6 flag")));
            }
        }
        if let Target::Refclock { driver, unit } = target {
            if kind != AssociationKind::Server {
                return Err(a.error_at(
                    tok,
                    "a reference clock needs 'server', not 'pool' or 'peer'",
                ));
            }
            if driver != LOCAL_CLOCK_DRIVER {
                self.diags.push(Diagnostic::warning(
                    a.location(Some(tok.column)),
                    format!(
                        "reference clock driver {driver} (127.127.{driver}.{unit}) is not implemented by ntpkit, only 1 (LOCAL); line ignored"
                    ),
                ));
                return Ok(());
            }
        }
        let mut assoc = Association::new(kind, target, a.location(None));
        assoc.family = family;
        let mut minpoll_tok = None;
        let mut maxpoll_tok = None;
        let mut nts_opts = NtsOptions::default();
        let mut nts_tok = None;
        while let Some(opt) = a.next() {
            if opt.quoted {
                self.skip_from(a, opt, &format!("not a {} option", kind_name(kind)));
                break;
            }
            match opt.text.as_str() {
                "key" => assoc.key = Some(a.uint("key id", 1, 65535)? as u32),
                "version" => assoc.version = a.uint("version", 1, 4)? as u8,
                "prefer" => assoc.prefer = true,
                "true" => assoc.always_true = true,
                "noselect" => assoc.noselect = true,
                "iburst" => assoc.iburst = true,
                "burst" => assoc.burst = true,
                "preempt" => assoc.preempt = true,
                "xleave" => assoc.xleave = true,
                "mode" => assoc.mode = Some(a.uint("mode", 0, 255)? as u32),
                "ttl" => assoc.ttl = Some(a.uint("ttl", 0, 255)? as u32),
                "minpoll" => {
                    minpoll_tok = Some(opt);
                    assoc.minpoll = a.int("minpoll", -128, 127)? as i8;
                }
                "maxpoll" => {
                    maxpoll_tok = Some(opt);
                    assoc.maxpoll = a.int("maxpoll", -128, 127)? as i8;
                }
                "autokey" => {}
                "nts" => {
                    assoc.nts.get_or_insert_with(Default::default);
                }
                "ca" => {
                    let f = a.expect("certificate file after ca")?;
                    nts_opts.ca = Some(std::path::PathBuf::from(&f.text));
                    nts_tok.get_or_insert(opt);
                }
                "noval" => {
                    nts_opts.noval = true;
                    nts_tok.get_or_insert(opt);
                }
                "aead" => {
                    let t = a.expect("AEAD algorithm after aead")?;
                    nts_opts.aead = Some(crate::wire::nts::aead::Aead::from_name(&t.text).ok_or_else(|| {
                        a.error_at(
                            t,
                            format!("aead {}: not an NTS algorithm (AES_SIV_CMAC_256 or AES_SIV_CMAC_512)", t.text),
                        )
                    })?);
                    nts_tok.get_or_insert(opt);
                }
                "port" => {
                    nts_opts.port = Some(a.uint("NTS-KE port", 1, 65535)? as u16);
                    nts_tok.get_or_insert(opt);
                }
                "ident" => {
                    a.expect("group name after ident")?;
                }
                _ => {
                    self.skip_from(a, opt, &format!("not a {} option", kind_name(kind)));
                    break;
                }
            }
            self.note(a, Section::Association, opt);
        }
        for (tok, value, name) in [
            (minpoll_tok, &mut assoc.minpoll, "minpoll"),
            (maxpoll_tok, &mut assoc.maxpoll, "maxpoll"),
        ] {
            if !POLL_LIMITS.contains(value) {
                let clamped = (*value).clamp(*POLL_LIMITS.start(), *POLL_LIMITS.end());
                self.diags.push(Diagnostic::warning(
                    a.location(tok.map(|t| t.column)),
                    format!(
                        "{name} {value} out of range {}..{}; using {clamped}",
                        POLL_LIMITS.start(),
                        POLL_LIMITS.end()
                    ),
                ));
                *value = clamped;
            }
        }
        if assoc.minpoll > assoc.maxpoll {
            self.diags.push(Diagnostic::warning(
                a.location(maxpoll_tok.or(minpoll_tok).map(|t| t.column)),
                format!(
                    "minpoll {} is above maxpoll {}; using maxpoll {}",
                    assoc.minpoll, assoc.maxpoll, assoc.minpoll
                ),
            ));
            assoc.maxpoll = assoc.minpoll;
        }
        match (&mut assoc.nts, nts_tok) {
            (Some(nts), _) => *nts = nts_opts,
            (None, Some(tok)) => self.diags.push(Diagnostic::warning(
                a.location(Some(tok.column)),
                format!(
                    "{} is an NTS option and this line has no 'nts'; ignored",
                    tok.text
                ),
            )),
            (None, None) => {}
        }
        if assoc.nts.is_some() {
            if assoc.kind == AssociationKind::Peer {
                return Err(Diagnostic::error(
                    a.location(None),
                    "NTS authenticates client associations only (server or pool), not peer",
                ));
            }
            if assoc.key.is_some() {
                return Err(Diagnostic::error(
                    a.location(None),
                    "an association uses either nts or key, not both",
                ));
            }
        }
        self.config.associations.push(assoc);
        Ok(())
    }

    fn fudge(&mut self, a: &mut Args) -> LineResult<()> {
        let tok = a.expect("reference clock address after fudge")?;
        let (driver, unit) = match parse_target(a, tok)? {
            Target::Refclock { driver, unit } => (driver, unit),
            _ => {
                return Err(a.error_at(
                    tok,
                    format!(
                        "fudge needs a reference clock address 127.127.t.u, not '{}'",
                        tok.text
                    ),
                ))
            }
        };
        let mut f = Fudge {
            location: Some(a.location(None)),
            ..Fudge::default()
        };
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "stratum" => f.stratum = Some(a.uint("stratum", 0, 15)? as u8),
                "refid" => {
                    let r = a.expect("refid")?;
                    if r.text.is_empty() || r.text.len() > 4 || !r.text.is_ascii() {
                        return Err(a.error_at(r, "refid must be 1 to 4 ASCII characters"));
                    }
                    f.refid = Some(r.text.clone());
                }
                "time1" => f.time1 = Some(a.float("time1")?),
                "time2" => f.time2 = Some(a.float("time2")?),
                "flag1" | "flag2" | "flag3" | "flag4" => {
                    let i = usize::from(opt.text.as_bytes()[4] - b'1');
                    f.flags[i] = Some(a.bool01(&opt.text)?);
                }
                _ => {
                    self.skip_from(a, opt, "not a fudge option");
                    break;
                }
            }
            self.note(a, Section::Fudge, opt);
        }
        self.fudges.push((driver, unit, f, a.location(None)));
        Ok(())
    }

    fn restrict(&mut self, a: &mut Args) -> LineResult<()> {
        let mut family = None;
        let mut tok = a.expect("address after restrict")?;
        if !tok.quoted && (tok.text == "-4" || tok.text == "-6") {
            family = Some(if tok.text == "-4" {
                AddressFamily::V4
            } else {
                AddressFamily::V6
            });
            tok = a.expect("address after restrict")?;
        }
        enum What {
            Default,
            Source,
            Addr(IpAddr),
            Name(String),
        }
        let what = match tok.text.as_str() {
            "default" if !tok.quoted => What::Default,
            "source" if !tok.quoted => What::Source,
            t => {
                if let Some((ip, prefix)) = parse_cidr(t) {
                    let _ = prefix;
                    What::Addr(ip)
                } else if let Some(ip) = parse_ip(t) {
                    What::Addr(ip)
                } else if is_hostname(t) {
                    What::Name(t.to_string())
                } else {
                    return Err(a.error_at(tok, format!("bad address '{t}'")));
                }
            }
        };
        if let (Some(fam), What::Addr(ip)) = (family, &what) {
            if (fam == AddressFamily::V4) != ip.is_ipv4() {
                return Err(a.error_at(tok, format!("address {ip} does not match the -4/-6 flag")));
            }
        }
        let cidr_prefix = parse_cidr(&tok.text).map(|(_, p)| p);
        let mut mask: Option<IpAddr> = None;
        let mut flags = RestrictFlags::NONE;
        let mut ntpport = false;
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "mask" => {
                    let m = a.expect("mask")?;
                    let ip = parse_ip(&m.text)
                        .ok_or_else(|| a.error_at(m, format!("bad mask '{}'", m.text)))?;
                    match &what {
                        What::Addr(addr) if addr.is_ipv4() != ip.is_ipv4() => {
                            return Err(a.error_at(m, "mask and address are of different families"))
                        }
                        What::Default | What::Source => {
                            return Err(a.error_at(m, "'mask' needs an address, not default/source"))
                        }
                        _ => {}
                    }
                    if cidr_prefix.is_some() {
                        return Err(a.error_at(m, "both a /prefix and a mask"));
                    }
                    mask = Some(ip);
                }
                "ntpport" => ntpport = true,
                "serverresponse" => {
                    let f = a.expect("'fuzz' after serverresponse")?;
                    if f.text != "fuzz" {
                        return Err(a.error_at(f, format!("expected 'fuzz', found '{}'", f.text)));
                    }
                    flags |= RestrictFlags::SERVERRESPONSE_FUZZ;
                }
                w => match RestrictFlags::from_keyword(w) {
                    Some(f) => flags |= f,
                    None => {
                        self.skip_from(a, opt, "not a restrict flag");
                        break;
                    }
                },
            }
            self.note(a, Section::Restrict, opt);
        }
        let r: &mut Restrictions = &mut self.config.restrictions;
        match what {
            What::Default => {
                if family != Some(AddressFamily::V6) {
                    r.default_v4 |= flags;
                }
                if family != Some(AddressFamily::V4) {
                    r.default_v6 |= flags;
                }
            }
            What::Source => r.source = Some(r.source.unwrap_or_default() | flags),
            What::Addr(ip) => {
                let mask =
                    mask.unwrap_or_else(|| prefix_mask(ip.is_ipv6(), cidr_prefix.unwrap_or(128)));
                r.add(RestrictEntry::new(ip, mask, flags, ntpport));
            }
            What::Name(n) => r.unresolved.push((n, mask, flags)),
        }
        Ok(())
    }

    fn discard(&mut self, a: &mut Args) -> LineResult<()> {
        let mut d = self.config.discard;
        if a.is_done() {
            a.expect("average, minimum or monitor")?;
        }
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "average" => d.average = a.uint("average", 0, 16)? as u8,
                "minimum" => d.minimum = a.uint("minimum", 0, u32::MAX.into())? as u32,
                "monitor" => d.monitor = a.uint("monitor", 0, u32::MAX.into())? as u32,
                _ => {
                    self.skip_from(a, opt, "not a discard option");
                    break;
                }
            }
            self.note(a, Section::Discard, opt);
        }
        self.config.discard = d;
        Ok(())
    }

    fn trustedkey(&mut self, a: &mut Args) -> LineResult<()> {
        // Split "(1", "...", "5)" and "(1...5)" alike into pieces with their own columns.
        let mut pieces: Vec<Token> = Vec::new();
        for t in a.rest() {
            let mut cur = String::new();
            let mut start = t.column;
            let chars: Vec<char> = t.text.chars().collect();
            let mut i = 0;
            let flush = |cur: &mut String, start: usize, pieces: &mut Vec<Token>| {
                if !cur.is_empty() {
                    pieces.push(Token {
                        text: std::mem::take(cur),
                        column: start,
                        quoted: false,
                    });
                }
            };
            while i < chars.len() {
                let col = t.column + i;
                let c = chars[i];
                if c == '(' || c == ')' {
                    flush(&mut cur, start, &mut pieces);
                    pieces.push(Token {
                        text: c.to_string(),
                        column: col,
                        quoted: false,
                    });
                    i += 1;
                    start = t.column + i;
                } else if chars[i..].starts_with(&['.', '.', '.']) {
                    flush(&mut cur, start, &mut pieces);
                    pieces.push(Token {
                        text: "...".into(),
                        column: col,
                        quoted: false,
                    });
                    i += 3;
                    start = t.column + i;
                } else {
                    if cur.is_empty() {
                        start = col;
                    }
                    cur.push(c);
                    i += 1;
                }
            }
            flush(&mut cur, start, &mut pieces);
        }
        if pieces.is_empty() {
            a.expect("key ids")?;
        }
        let mut sub = Args::new(a.file, a.line, &pieces);
        let mut ranges = Vec::new();
        while let Some(t) = sub.peek() {
            if t.text == "(" {
                sub.next();
                let lo = sub.uint("first key id of range", 1, 65535)? as u32;
                let dots = sub.expect("'...'")?;
                if dots.text != "..." {
                    return Err(
                        sub.error_at(dots, format!("expected '...', found '{}'", dots.text))
                    );
                }
                let hi_tok = sub.peek();
                let hi = sub.uint("last key id of range", 1, 65535)? as u32;
                let close = sub.expect("')'")?;
                if close.text != ")" {
                    return Err(
                        sub.error_at(close, format!("expected ')', found '{}'", close.text))
                    );
                }
                if lo > hi {
                    return Err(sub.error_at(
                        hi_tok.unwrap_or(close),
                        format!("key range ({lo} ... {hi}) is empty"),
                    ));
                }
                ranges.push(lo..=hi);
            } else {
                let id = sub.uint("key id", 1, 65535)? as u32;
                ranges.push(id..=id);
            }
        }
        self.config.trusted_keys.extend(ranges);
        Ok(())
    }

    fn enable(&mut self, on: bool, a: &mut Args) -> LineResult<()> {
        let mut s = self.config.system;
        if a.is_done() {
            a.expect("a flag (auth, bclient, calibrate, kernel, mode7, monitor, ntp, stats)")?;
        }
        while let Some(t) = a.next() {
            match t.text.as_str() {
                "auth" => s.auth = on,
                "bclient" => s.bclient = on,
                "calibrate" => s.calibrate = on,
                "kernel" => s.kernel = on,
                "mode7" => s.mode7 = on,
                "monitor" => s.monitor = on,
                "ntp" => s.ntp = on,
                "stats" => s.stats = on,
                "pps"
                | "peer_clear_digest_early"
                | "unpeer_crypto_early"
                | "unpeer_crypto_nak_early"
                | "unpeer_digest_early" => {}
                _ => {
                    self.skip_from(a, t, "not a system flag");
                    break;
                }
            }
            let verb = if on { "enable" } else { "disable" };
            self.note_name(a, Section::System, &format!("{verb} {}", t.text), t.column);
        }
        self.config.system = s;
        Ok(())
    }

    fn statistics(&mut self, a: &mut Args) -> LineResult<()> {
        let names = a.rest();
        if names.is_empty() {
            a.expect("statistics names (loopstats, peerstats, …)")?;
        }
        for (i, t) in names.iter().enumerate() {
            if !STATISTICS_NAMES.contains(&t.text.as_str()) {
                self.skipped(a, &names[i..i + 1], "not a statistics name");
                self.skipped(a, &names[i + 1..], "after a skipped word");
                break;
            }
            self.config
                .filegens
                .entry(t.text.clone())
                .or_default()
                .enabled = true;
            self.note(a, Section::Statistics, t);
        }
        Ok(())
    }

    fn filegen(&mut self, a: &mut Args) -> LineResult<()> {
        let name = a.expect("statistics name after filegen")?;
        if !STATISTICS_NAMES.contains(&name.text.as_str()) {
            return Err(a.error_at(name, format!("unknown statistics '{}'", name.text)));
        }
        let mut g = self
            .config
            .filegens
            .get(&name.text)
            .cloned()
            .unwrap_or_default();
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "file" => g.file = Some(a.expect("file name")?.text.clone()),
                "type" => {
                    let t = a.expect("filegen type")?;
                    g.kind = FileGenType::from_keyword(&t.text).ok_or_else(|| {
                        a.error_at(
                            t,
                            format!(
                                "unknown filegen type '{}' (none, pid, day, week, month, year, age)",
                                t.text
                            ),
                        )
                    })?;
                }
                "link" => g.link = true,
                "nolink" => g.link = false,
                "enable" => g.enabled = true,
                "disable" => g.enabled = false,
                _ => {
                    self.skip_from(a, opt, "not a filegen option");
                    break;
                }
            }
        }
        if g.enabled {
            self.note(a, Section::Statistics, name);
        }
        self.config.filegens.insert(name.text.clone(), g);
        Ok(())
    }

    fn tinker(&mut self, a: &mut Args) -> LineResult<()> {
        let mut t = self.config.tinker;
        if a.is_done() {
            a.expect("a tinker variable")?;
        }
        while let Some(opt) = a.next() {
            let slot = match opt.text.as_str() {
                "allan" => &mut t.allan,
                "dispersion" => &mut t.dispersion,
                "freq" => &mut t.freq,
                "huffpuff" => &mut t.huffpuff,
                "panic" => &mut t.panic,
                "step" => &mut t.step,
                "stepback" => &mut t.stepback,
                "stepfwd" => &mut t.stepfwd,
                "stepout" => &mut t.stepout,
                _ => {
                    self.skip_from(a, opt, "not a tinker variable");
                    break;
                }
            };
            *slot = Some(a.float(&opt.text)?);
            self.note(a, Section::Tinker, opt);
        }
        self.config.tinker = t;
        Ok(())
    }

    fn tos(&mut self, a: &mut Args) -> LineResult<()> {
        let mut t = self.config.tos;
        if a.is_done() {
            a.expect("a tos variable")?;
        }
        while let Some(opt) = a.next() {
            match opt.text.as_str() {
                "beacon" => t.beacon = a.float("beacon")?,
                "ceiling" => t.ceiling = a.uint("ceiling", 1, 16)? as u8,
                "cohort" => t.cohort = a.bool01("cohort")?,
                "floor" => t.floor = a.uint("floor", 1, 16)? as u8,
                "maxclock" => t.maxclock = a.uint("maxclock", 1, 1000)? as u32,
                "maxdist" => t.maxdist = a.float("maxdist")?,
                "minclock" => t.minclock = a.uint("minclock", 1, 1000)? as u32,
                "mindist" => t.mindist = a.float("mindist")?,
                "minsane" => t.minsane = a.uint("minsane", 0, 1000)? as u32,
                "orphan" => t.orphan = a.uint("orphan", 1, 16)? as u8,
                "orphanwait" => t.orphanwait = a.float("orphanwait")?,
                "bcpollbstep" => {
                    a.float("bcpollbstep")?;
                }
                "basedate" => {
                    a.expect("date after basedate")?;
                }
                _ => {
                    self.skip_from(a, opt, "not a tos variable");
                    break;
                }
            }
            self.note(a, Section::Tos, opt);
        }
        self.config.tos = t;
        Ok(())
    }

    fn interface(&mut self, a: &mut Args) -> LineResult<()> {
        let act = a.expect("listen, ignore or drop")?;
        let action = match act.text.as_str() {
            "listen" => InterfaceAction::Listen,
            "ignore" => InterfaceAction::Ignore,
            "drop" => InterfaceAction::Drop,
            w => {
                return Err(a.error_at(act, format!("expected listen, ignore or drop, found '{w}'")))
            }
        };
        let what = a.expect("all, ipv4, ipv6, wildcard, an interface name or an address")?;
        let matches = match what.text.as_str() {
            "all" => InterfaceMatch::All,
            "ipv4" => InterfaceMatch::Ipv4,
            "ipv6" => InterfaceMatch::Ipv6,
            "wildcard" => InterfaceMatch::Wildcard,
            t => {
                if let Some((ip, p)) = parse_cidr(t) {
                    InterfaceMatch::Prefix(ip, p)
                } else if let Some(ip) = parse_ip(t) {
                    InterfaceMatch::Prefix(ip, if ip.is_ipv4() { 32 } else { 128 })
                } else if t.contains('/') {
                    return Err(a.error_at(what, format!("bad address/prefix '{t}'")));
                } else {
                    InterfaceMatch::Name(t.to_string())
                }
            }
        };
        self.end_line(a);
        self.config.interfaces.push(InterfaceRule {
            action,
            matches,
            location: a.location(None),
        });
        Ok(())
    }

    fn mru(&mut self, a: &mut Args) -> LineResult<()> {
        const KEYS: &[&str] = &[
            "maxdepth",
            "maxmem",
            "mindepth",
            "maxage",
            "minage",
            "initalloc",
            "initmem",
            "incalloc",
            "incmem",
        ];
        let mut settings = Vec::new();
        if a.is_done() {
            a.expect("an mru setting")?;
        }
        while let Some(opt) = a.next() {
            if !KEYS.contains(&opt.text.as_str()) {
                self.skip_from(a, opt, "not an mru setting");
                break;
            }
            settings.push((
                opt.text.clone(),
                a.uint(&opt.text, 0, u32::MAX.into())? as u32,
            ));
            self.note(a, Section::Mru, opt);
        }
        self.config.mru.extend(settings);
        Ok(())
    }

    /// `metrics ADDR:PORT [allow PREFIX…]` (ntpkit extension). A listening address that is
    /// not loopback needs an allow list: the endpoint tells a reader much about this host.
    fn metrics(&mut self, a: &mut Args) -> LineResult<()> {
        let tok = a.expect("ADDR:PORT after metrics")?;
        let addr: std::net::SocketAddr = tok.text.parse().map_err(|_| {
            a.error_at(
                tok,
                format!(
                    "bad metrics address '{}' (expected ADDR:PORT, [V6]:PORT)",
                    tok.text
                ),
            )
        })?;
        let mut allow = Vec::new();
        if let Some(kw) = a.next() {
            if kw.text != "allow" || kw.quoted {
                return Err(a.error_at(kw, format!("expected 'allow', found '{}'", kw.text)));
            }
            if a.is_done() {
                a.expect("an address or ADDR/PREFIX after allow")?;
            }
            while let Some(t) = a.next() {
                let net = parse_cidr(&t.text).or_else(|| {
                    parse_ip(&t.text).map(|ip| (ip, if ip.is_ipv4() { 32 } else { 128 }))
                });
                match net {
                    Some(n) => allow.push(n),
                    None => return Err(a.error_at(t, format!("bad allow address '{}'", t.text))),
                }
            }
        }
        if !addr.ip().is_loopback() && allow.is_empty() {
            return Err(a.error_at(
                tok,
                format!(
                    "metrics on {addr}, not a loopback address, needs 'allow PREFIX…' naming who may scrape"
                ),
            ));
        }
        self.config.metrics = Some(crate::config::model::MetricsListen { addr, allow });
        Ok(())
    }

    fn setvar(&mut self, a: &mut Args) -> LineResult<()> {
        let toks = a.rest();
        let Some(first) = toks.first() else {
            return Err(Diagnostic::error(
                a.location(None),
                "missing 'name = value' after setvar",
            ));
        };
        let (toks, default) = match toks.split_last() {
            Some((last, init)) if last.text == "default" && !last.quoted && !init.is_empty() => {
                (init, true)
            }
            _ => (toks, false),
        };
        let joined = toks
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let Some((name, value)) = joined.split_once('=') else {
            return Err(a.error_at(first, "setvar needs 'name = value'"));
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(a.error_at(first, format!("bad setvar name '{name}'")));
        }
        self.config.setvars.push(SetVar {
            name: name.to_string(),
            value: value.trim().to_string(),
            default,
        });
        Ok(())
    }
}

fn kind_name(k: AssociationKind) -> &'static str {
    match k {
        AssociationKind::Server => "server",
        AssociationKind::Pool => "pool",
        AssociationKind::Peer => "peer",
    }
}

fn merge_fudge(into: &mut Fudge, f: &Fudge) {
    into.stratum = f.stratum.or(into.stratum);
    into.refid = f.refid.clone().or(into.refid.take());
    into.time1 = f.time1.or(into.time1);
    into.time2 = f.time2.or(into.time2);
    for i in 0..4 {
        into.flags[i] = f.flags[i].or(into.flags[i]);
    }
    into.location = f.location.clone().or(into.location.take());
}

/// `addr/prefix` (an ntpkit extension for restrict; NTPsec syntax for interface).
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let ip = parse_ip(addr)?;
    let p: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (p <= max).then_some((ip, p))
}

/// An association or fudge address: an IP literal (127.127.t.u is a refclock) or a name.
fn parse_target(a: &Args, tok: &Token) -> LineResult<Target> {
    let t = tok.text.as_str();
    if let Some(ip) = parse_ip(t) {
        if let IpAddr::V4(v4) = ip {
            let o = v4.octets();
            if o[0] == 127 && o[1] == 127 {
                return Ok(Target::Refclock {
                    driver: o[2],
                    unit: o[3],
                });
            }
        }
        return Ok(Target::Address(ip));
    }
    if is_hostname(t) {
        return Ok(Target::Name(t.to_string()));
    }
    Err(a.error_at(tok, format!("bad address '{t}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diagnostic::Severity;

    fn parse(text: &str) -> (Config, Vec<Diagnostic>) {
        Config::parse_str(text, Path::new("/etc/ntp.conf")).expect("no fatal error")
    }

    /// Without the "accepted, not implemented" notes (tested on their own).
    fn parse_quiet(text: &str) -> (Config, Vec<Diagnostic>) {
        let (c, d) = parse(text);
        let d = d
            .into_iter()
            .filter(|d| !d.message.contains("accepted, not implemented"))
            .collect();
        (c, d)
    }

    #[test]
    fn nts_options_as_ntpsec_spells_them() {
        use crate::wire::nts::aead::Aead;
        let (c, d) = parse(
            "server 198.18.0.1 nts ca /etc/ntpsec/ca.pem aead aes-siv-cmac-256 port 4461 iburst\n\
             pool nts.example nts noval\nserver 198.18.0.2\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let nts = c.associations[0].nts.clone().unwrap();
        assert_eq!(nts.ca.as_deref(), Some(Path::new("/etc/ntpsec/ca.pem")));
        assert_eq!(nts.aead, Some(Aead::AesSivCmac256));
        assert_eq!(nts.port, Some(4461));
        assert!(!nts.noval && c.associations[0].iburst);
        assert!(c.associations[1].nts.as_ref().unwrap().noval);
        assert_eq!(c.associations[2].nts, None);
        // never an unauthenticated association where NTS was asked for
        for bad in [
            "server 198.18.0.1 nts key 1\n",
            "peer 198.18.0.1 nts\n",
            "server 198.18.0.1 nts aead AES_GCM\n",
        ] {
            let (c, d) = parse(bad);
            assert!(c.associations.is_empty(), "{bad}");
            assert_eq!(d[0].severity, Severity::Error, "{bad}: {d:?}");
            assert_eq!(d[0].location.line, 1, "{bad}");
        }
        // an NTS option without nts: warned, the association is plain (as written)
        let (c, d) = parse("server 198.18.0.1 noval\n");
        assert_eq!(c.associations[0].nts, None);
        assert!(d[0].message.contains("no 'nts'"), "{d:?}");
    }

    fn one_diag(text: &str) -> Diagnostic {
        let (_, d) = parse(text);
        assert_eq!(d.len(), 1, "{d:?}");
        d.into_iter().next().unwrap()
    }

    #[test]
    fn server_options() {
        let (c, d) = parse_quiet(
            "server -4 time.example.com key 7 version 3 prefer minpoll 4 maxpoll 8 iburst burst noselect true mode 5\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let a = &c.associations[0];
        assert_eq!(a.kind, AssociationKind::Server);
        assert_eq!(a.target, Target::Name("time.example.com".into()));
        assert_eq!(a.family, Some(AddressFamily::V4));
        assert_eq!(a.key, Some(7));
        assert_eq!(a.version, 3);
        assert!(a.prefer && a.iburst && a.burst && a.noselect && a.always_true);
        assert_eq!((a.minpoll, a.maxpoll), (4, 8));
        assert_eq!(a.mode, Some(5));
        assert_eq!(a.location.line, 1);
    }

    #[test]
    fn pool_peer_and_ipv6() {
        let (c, d) = parse("pool 0.pool.ntp.org iburst\npeer -6 2001:db8::1\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.associations[0].kind, AssociationKind::Pool);
        assert_eq!(c.associations[1].kind, AssociationKind::Peer);
        assert_eq!(
            c.associations[1].target,
            Target::Address("2001:db8::1".parse().unwrap())
        );
        assert_eq!(c.associations[1].minpoll, 6);
        assert_eq!(c.associations[1].maxpoll, 10);
        assert_eq!(c.associations[1].version, 4);
    }

    #[test]
    fn local_clock_with_fudge_in_any_order() {
        let (c, d) = parse_quiet(
            "fudge 127.127.1.0 stratum 10 refid GPS time1 0.5 flag1 1\nserver 127.127.1.0\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let a = &c.associations[0];
        assert!(a.is_local_clock());
        assert_eq!(a.refclock_stratum(), Some(10));
        assert_eq!(a.refclock_refid().as_deref(), Some("GPS"));
        assert_eq!(a.fudge.time1, Some(0.5));
        assert_eq!(a.fudge.flags[0], Some(true));
        let (c, _) = parse("server 127.127.1.0\n");
        assert_eq!(c.associations[0].refclock_stratum(), Some(5));
        assert_eq!(c.associations[0].refclock_refid().as_deref(), Some("LOCL"));
    }

    #[test]
    fn capitalised_fudge_is_an_unknown_keyword_warning() {
        let (c, d) = parse("server 192.168.6.3\nFudge 192.168.6.3 stratum 10\n");
        assert_eq!(c.associations.len(), 1);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Warning);
        assert_eq!(d[0].location.line, 2);
        let s = d[0].to_string();
        assert!(
            s.starts_with("/etc/ntp.conf:2:1: warning: unknown keyword 'Fudge'"),
            "{s}"
        );
        assert!(s.contains("did you mean 'fudge'"), "{s}");
    }

    #[test]
    fn fudge_of_a_network_address_and_orphan_fudge() {
        let d = one_diag("server 192.168.6.3\nfudge 192.168.6.3 stratum 10\n");
        assert!(d.is_error());
        assert_eq!(d.location.column, Some(7));
        let d = one_diag("fudge 127.127.1.0 stratum 10\n");
        assert_eq!(d.severity, Severity::Warning);
        assert!(d.message.contains("without a 'server 127.127.1.0'"), "{d}");
    }

    #[test]
    fn other_refclock_drivers_and_unimplemented_directives_warn() {
        let (c, d) = parse(
            "server 127.127.20.0 mode 1\nbroadcastclient\ncrypto pw x\nmanycastserver 239.1.1.1\n",
        );
        assert!(c.associations.is_empty());
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d.iter().all(|d| d.severity == Severity::Warning));
        assert!(d[0].message.contains("driver 20"));
        assert_eq!(d[1].location.line, 2);
        assert!(
            d[2].to_string()
                .contains("'crypto' accepted, not implemented by ntpkit"),
            "{}",
            d[2]
        );
    }

    #[test]
    fn syntax_errors_name_line_and_column_and_skip_the_line() {
        let d = one_diag("server a.example minpoll x\n");
        assert!(d.is_error());
        assert_eq!((d.location.line, d.location.column), (1, Some(26)));
        assert_eq!(
            d.to_string(),
            "/etc/ntp.conf:1:26: error: minpoll: 'x' is not a number"
        );
        let (c, d) = parse("\nserver\n");
        assert!(c.associations.is_empty());
        assert_eq!(
            d[0].to_string(),
            "/etc/ntp.conf:2:8: error: missing server address"
        );
        let d = one_diag("restrict 192.168.1.0 mask 255.255.256.0\n");
        assert_eq!(d.location.column, Some(27));
        assert!(d.message.contains("bad mask"));
        let d = one_diag("restrict 10.0.0.1 nomodify bogus\n");
        assert_eq!(d.location.column, Some(28));
        let d = one_diag("server 1.2.3.4 version 5\n");
        assert!(d.message.contains("out of range"), "{d}");
        let d = one_diag("restrict 192.168.6.3 nomodify notrap nopeer noquery //当前节点IP地址\n");
        assert_eq!(d.location.column, Some(53));
        let d = one_diag("server 192.168.6.3//x\n");
        assert!(d.message.contains("bad address"));
    }

    /// NTPsec keeps a command that is complete when an unexpected word comes (bison's
    /// default reduction) and logs a syntax error; a word missing inside an option drops
    /// the line. Checked against NTPsec 1.2.2's ntpd (`ntpq -pn` of the same file).
    #[test]
    fn trailing_words_are_skipped_and_the_directive_kept_as_ntpsec_does() {
        let (c, d) = parse(
            "server 198.18.0.2 prefer <==以这部主机为最优先的server\n\
             server 198.18.0.3 server 198.18.0.4 # 3.默认的\n\
             restrict default kod nomodify notrap nopeer noquery <==拒绝 IPv4 的用户\n\
             restrict -6 ::1 restrict 192.168.100.0 mask 255.255.255.0 nomodify <==放行\n\
             server 198.18.0.5 iburst bogus minpoll 4\n\
             server 198.18.0.6 minpoll x\n\
             driftfile /var/lib/ntp/drift junk\n",
        );
        let servers: Vec<String> = c
            .associations
            .iter()
            .map(|a| match &a.target {
                Target::Address(ip) => ip.to_string(),
                t => format!("{t:?}"),
            })
            .collect();
        assert_eq!(servers, ["198.18.0.2", "198.18.0.3", "198.18.0.5"]);
        assert!(c.associations[0].prefer);
        assert!(c.associations[2].iburst);
        assert_eq!(c.associations[2].minpoll, 6, "minpoll came after the skip");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(c
            .restrictions
            .lookup(ip("203.0.113.1"))
            .contains(RestrictFlags::NOQUERY));
        assert_eq!(c.restrictions.lookup(ip("::1")), RestrictFlags::NONE);
        // the second restrict on line 4 was skipped: the LAN gets the default entry
        assert_eq!(
            c.restrictions.lookup(ip("192.168.100.7")),
            c.restrictions.lookup(ip("203.0.113.1"))
        );
        assert_eq!(
            c.driftfile.as_deref(),
            Some(Path::new("/var/lib/ntp/drift"))
        );
        // one warning per skipped word, at its column; one error for the broken minpoll
        let at = |line: usize| -> Vec<(usize, Severity)> {
            d.iter()
                .filter(|d| d.location.line == line)
                .map(|d| (d.location.column.unwrap(), d.severity))
                .collect()
        };
        assert_eq!(at(1), [(26, Severity::Warning)]);
        assert_eq!(at(2), [(19, Severity::Warning), (26, Severity::Warning)]);
        assert_eq!(at(3).len(), 3);
        assert_eq!(at(4).len(), 6);
        assert_eq!(at(5).len(), 3);
        assert_eq!(at(6), [(27, Severity::Error)]);
        assert_eq!(at(7), [(30, Severity::Warning)]);
        assert!(d[0].to_string().starts_with(
            "/etc/ntp.conf:1:26: warning: '<==以这部主机为最优先的server' skipped (not a server option)"
        ), "{}", d[0]);
    }

    #[test]
    fn not_implemented_keywords_are_reported_once_each() {
        let (_, d) = parse(
            "server 192.0.2.1 preempt\nserver 192.0.2.2 preempt\ntinker allan 1500\n\
             tinker allan 1000\nenable kernel\nstatistics loopstats sysstats cryptostats\n",
        );
        let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:#?}");
        assert!(msgs[0].starts_with(
            "/etc/ntp.conf:1:18: warning: server option 'preempt' accepted, not implemented"
        ));
        assert!(msgs[1].contains(":3:8: warning: 'tinker allan' accepted"));
        assert!(msgs[2].contains(":5:8: warning: 'enable kernel' accepted"));
        assert!(msgs[3].contains(":6:31: warning: statistics 'cryptostats' accepted"));
    }

    #[test]
    fn xleave_and_chrony_s_hwtimestamp_are_taken() {
        let (c, d) = parse(
            "server 192.0.2.1 xleave iburst\nhwtimestamp *\nhwtimestamp eth0 minpoll 0 nocrossts rxfilter all\nhwtimestamp\n",
        );
        assert!(c.associations[0].xleave);
        assert_eq!(c.hwtimestamp, ["*", "eth0"]);
        let msgs: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(msgs.len(), 1, "{msgs:#?}");
        assert!(msgs[0].starts_with("/etc/ntp.conf:4:"), "{}", msgs[0]);
    }

    #[test]
    fn poll_limits_are_clamped_with_a_warning() {
        let (c, d) = parse("server a.example minpoll -1 maxpoll 20\n");
        assert_eq!(d.len(), 2);
        assert_eq!(
            (c.associations[0].minpoll, c.associations[0].maxpoll),
            (0, 17)
        );
        // NTPsec's lower limit: 0 (1 s) is accepted as it is
        let (c, d) = parse("server a.example minpoll 1 maxpoll 1\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.associations[0].minpoll, 1);
        let (c, d) = parse("server a.example minpoll 12 maxpoll 8\n");
        assert_eq!(d.len(), 1);
        assert_eq!(c.associations[0].maxpoll, 12);
    }

    #[test]
    fn restrict_lines_build_the_lookup_table() {
        let (c, d) = parse(
            "restrict default kod nomodify notrap nopeer noquery\n\
             restrict -6 default kod nomodify notrap nopeer noquery ignore\n\
             restrict 127.0.0.1\n\
             restrict -6 ::1\n\
             restrict 192.168.100.0 mask 255.255.255.0 nomodify\n\
             restrict 10.0.0.0/8 limited kod ntpport\n\
             restrict source nomodify\n\
             restrict ntp.example.com noquery\n\
             restrict 192.0.2.9 serverresponse fuzz\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let r = &c.restrictions;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let dflt = RestrictFlags::KOD
            | RestrictFlags::NOMODIFY
            | RestrictFlags::NOTRAP
            | RestrictFlags::NOPEER
            | RestrictFlags::NOQUERY;
        assert_eq!(r.lookup(ip("203.0.113.5")), dflt);
        assert_eq!(r.lookup(ip("2001:db8::5")), dflt | RestrictFlags::IGNORE);
        assert_eq!(r.lookup(ip("127.0.0.1")), RestrictFlags::NONE);
        assert_eq!(r.lookup(ip("::1")), RestrictFlags::NONE);
        assert_eq!(r.lookup(ip("192.168.100.9")), RestrictFlags::NOMODIFY);
        assert_eq!(
            r.lookup_with_port(ip("10.9.9.9"), Some(123)),
            RestrictFlags::LIMITED | RestrictFlags::KOD
        );
        assert_eq!(r.lookup_with_port(ip("10.9.9.9"), Some(5000)), dflt);
        assert_eq!(r.source, Some(RestrictFlags::NOMODIFY));
        assert_eq!(r.unresolved[0].0, "ntp.example.com");
        assert_eq!(
            r.lookup(ip("192.0.2.9")),
            RestrictFlags::SERVERRESPONSE_FUZZ
        );
    }

    #[test]
    fn keys_and_trustedkey_ranges() {
        let (c, d) = parse_quiet(
            "keys /etc/ntp/keys\ntrustedkey 4 8 42 (100 ... 105) (200...201)\nrequestkey 8\ncontrolkey 9\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.keys_file.as_deref(), Some(Path::new("/etc/ntp/keys")));
        for id in [4, 8, 42, 100, 103, 105, 200, 201] {
            assert!(c.is_trusted_key(id), "{id}");
        }
        for id in [5, 99, 106, 202] {
            assert!(!c.is_trusted_key(id), "{id}");
        }
        assert_eq!((c.request_key, c.control_key), (Some(8), Some(9)));
        let d = one_diag("trustedkey (5 ... 2)\n");
        assert!(d.message.contains("empty"), "{d}");
        let d = one_diag("trustedkey 0\n");
        assert_eq!(d.location.column, Some(12));
    }

    #[test]
    fn metrics_needs_an_allow_list_off_loopback() {
        let (c, d) = parse_quiet("metrics 127.0.0.1:9975\n");
        assert!(d.is_empty(), "{d:?}");
        let m = c.metrics.unwrap();
        assert_eq!(m.addr.to_string(), "127.0.0.1:9975");
        assert!(m.permits("127.0.0.1".parse().unwrap()));
        assert!(m.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!m.permits("198.18.0.3".parse().unwrap()));
        let (c, d) = parse_quiet("metrics [::]:9975 allow 198.18.0.0/24 2001:db8::1\n");
        assert!(d.is_empty(), "{d:?}");
        let m = c.metrics.unwrap();
        assert!(m.permits("198.18.0.200".parse().unwrap()));
        assert!(m.permits("::ffff:198.18.0.7".parse().unwrap()));
        assert!(!m.permits("198.18.1.1".parse().unwrap()));
        assert!(m.permits("2001:db8::1".parse().unwrap()));
        assert!(!m.permits("2001:db8::2".parse().unwrap()));
        for (line, says, column) in [
            ("metrics 198.18.0.1:9975\n", "needs 'allow", 9),
            ("metrics 9975\n", "bad metrics address", 9),
            (
                "metrics 127.0.0.1:9975 permit 10.0.0.0/8\n",
                "expected 'allow'",
                24,
            ),
            ("metrics 127.0.0.1:9975 allow\n", "missing", 30),
            (
                "metrics 127.0.0.1:9975 allow 10.0.0.0/33\n",
                "bad allow address",
                30,
            ),
        ] {
            let (c, d) = parse_quiet(line);
            assert_eq!(d.len(), 1, "{line}: {d:?}");
            assert!(d[0].message.contains(says), "{line}: {}", d[0]);
            assert_eq!(d[0].location.column, Some(column), "{line}: {}", d[0]);
            assert!(c.metrics.is_none(), "{line}");
        }
    }

    #[test]
    fn misc_directives() {
        let (c, d) = parse_quiet(
            "driftfile /var/lib/ntp/drift\n\
             disable monitor kernel\nenable calibrate\n\
             statistics loopstats peerstats\nstatsdir /var/log/ntpstats/\n\
             filegen loopstats file loops type week nolink enable\n\
             filegen clockstats type none disable\n\
             logfile /var/log/ntp.log\nlogconfig =syncall +clockall\n\
             pidfile /run/ntpd.pid\nleapfile /usr/share/zoneinfo/leap-seconds.list\n\
             tinker panic 0 step 0.128 stepout 900 allan 1500 dispersion 15 freq 0 huffpuff 7200\n\
             tos minclock 4 minsane 2 orphan 10 orphanwait 0 maxclock 7 maxdist 2 mindist 0.01 floor 2 ceiling 15 cohort 1 beacon 60\n\
             interface listen eth0\ninterface ignore ipv6\ninterface drop 10.0.0.0/8\n\
             rtcsync\nmru maxdepth 1024 maxage 64\nsetvar owner = \"The Boss\" default\n\
             discard average 4 minimum 1 monitor 100\nnonvolatile 1e-6\n",
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(
            c.driftfile.as_deref(),
            Some(Path::new("/var/lib/ntp/drift"))
        );
        assert!(!c.system.monitor && !c.system.kernel && c.system.calibrate && c.system.ntp);
        let stats: Vec<&str> = c.enabled_stats().map(|(n, _)| n).collect();
        assert_eq!(stats, vec!["loopstats", "peerstats"]);
        let lg = &c.filegens["loopstats"];
        assert_eq!(lg.file.as_deref(), Some("loops"));
        assert_eq!(lg.kind, FileGenType::Week);
        assert!(!lg.link);
        assert!(!c.filegens["clockstats"].enabled);
        assert_eq!(c.logconfig, vec!["=syncall", "+clockall"]);
        assert_eq!(c.tinker.panic, Some(0.0));
        assert_eq!(c.tinker.step, Some(0.128));
        assert_eq!(c.tos.minclock, 4);
        assert_eq!(c.tos.orphan, 10);
        assert!(c.tos.cohort);
        assert_eq!(c.interfaces.len(), 3);
        assert_eq!(
            c.interfaces[2].matches,
            InterfaceMatch::Prefix("10.0.0.0".parse().unwrap(), 8)
        );
        assert!(c.rtcsync);
        assert_eq!(c.mru["maxdepth"], 1024);
        assert_eq!(c.setvars[0].name, "owner");
        assert_eq!(c.setvars[0].value, "The Boss");
        assert!(c.setvars[0].default);
        assert_eq!(c.discard.average, 4);
        assert_eq!(c.nonvolatile, Some(1e-6));
        let (c, d) = parse("driftfile /a 1e-7\ndriftfile\n");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(c.driftfile, None);
        let d = one_diag("driftfile /a x\n");
        assert_eq!(d.location.column, Some(14));
    }

    #[test]
    fn includefile_relative_nesting_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir(p.join("sub")).unwrap();
        std::fs::write(
            p.join("main.conf"),
            "includefile sub/a.conf\nserver 192.0.2.1\n",
        )
        .unwrap();
        std::fs::write(
            p.join("sub/a.conf"),
            "includefile b.conf\nserver 192.0.2.2\n",
        )
        .unwrap();
        std::fs::write(p.join("sub/b.conf"), "server 192.0.2.3\nbogus\n").unwrap();
        let (c, d) = Config::load(&p.join("main.conf")).unwrap();
        let addrs: Vec<String> = c
            .associations
            .iter()
            .map(|a| match &a.target {
                Target::Address(ip) => ip.to_string(),
                t => format!("{t:?}"),
            })
            .collect();
        assert_eq!(addrs, vec!["192.0.2.3", "192.0.2.2", "192.0.2.1"]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].location.file, p.join("sub/b.conf"));
        assert_eq!(d[0].location.line, 2);

        // a missing include is an error naming the line; the rest of the file still counts
        std::fs::write(
            p.join("missing.conf"),
            "\n\nincludefile nothere.conf\nserver 192.0.2.9\n",
        )
        .unwrap();
        let (c, d) = Config::load(&p.join("missing.conf")).unwrap();
        assert_eq!(c.associations.len(), 1);
        assert_eq!(d.len(), 1, "{d:?}");
        let e = d[0].to_string();
        assert!(e.contains("missing.conf:3:13: error: includefile"), "{e}");
        assert!(e.contains("nothere.conf"), "{e}");

        std::fs::write(p.join("loop.conf"), "includefile loop.conf\n").unwrap();
        let (_, d) = Config::load(&p.join("loop.conf")).unwrap();
        assert!(d.iter().all(|d| d.is_error()), "{d:?}");
        assert!(
            d.iter().any(|d| d.message.contains("more than 5 levels")),
            "{d:?}"
        );

        let e = Config::load(&p.join("absent.conf"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.conf"), "{e}");
    }

    #[test]
    fn include_depth_five_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for i in 0..5 {
            std::fs::write(
                p.join(format!("{i}.conf")),
                format!("includefile {}.conf\n", i + 1),
            )
            .unwrap();
        }
        std::fs::write(p.join("5.conf"), "server 192.0.2.5\n").unwrap();
        let (c, d) = Config::load(&p.join("0.conf")).unwrap();
        assert!(d.is_empty());
        assert_eq!(c.associations.len(), 1);
    }

    #[test]
    fn builtin_default() {
        let c = Config::default_builtin();
        assert!(c.builtin);
        assert_eq!(c.associations.len(), 4);
        assert!(c
            .associations
            .iter()
            .all(|a| a.kind == AssociationKind::Pool && a.iburst));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(c
            .restrictions
            .lookup(ip("192.0.2.1"))
            .contains(RestrictFlags::NOQUERY));
        assert!(c
            .restrictions
            .lookup(ip("2001:db8::1"))
            .contains(RestrictFlags::KOD));
        assert_eq!(c.restrictions.lookup(ip("127.0.0.1")), RestrictFlags::NONE);
        assert_eq!(c.restrictions.lookup(ip("::1")), RestrictFlags::NONE);
    }
}
