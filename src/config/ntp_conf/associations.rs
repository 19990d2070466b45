//! `server`, `pool`, `peer` and `fudge` lines: the associations and their reference-clock
//! adjustments.

use super::*;

impl Parser {
    pub(super) fn association(&mut self, kind: AssociationKind, a: &mut Args) -> LineResult<()> {
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
        let seen = self.association_options(&mut assoc, a)?;
        self.clamp_polls(&mut assoc, a, &seen);
        self.settle_nts(&mut assoc, a, seen)?;
        self.config.associations.push(assoc);
        Ok(())
    }

    /// The options after the address, up to the first word that is not one (skipped
    /// with the rest of the line, the association kept).
    fn association_options<'t>(
        &mut self,
        assoc: &mut Association,
        a: &mut Args<'t>,
    ) -> LineResult<SeenOptions<'t>> {
        let kind = assoc.kind;
        let mut seen = SeenOptions::default();
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
                    seen.minpoll = Some(opt);
                    assoc.minpoll = a.int("minpoll", -128, 127)? as i8;
                }
                "maxpoll" => {
                    seen.maxpoll = Some(opt);
                    assoc.maxpoll = a.int("maxpoll", -128, 127)? as i8;
                }
                "autokey" => {}
                "nts" => {
                    assoc.nts.get_or_insert_with(Default::default);
                }
                "ca" | "noval" | "aead" | "port" => nts_option(opt, a, &mut seen)?,
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
        Ok(seen)
    }

    /// minpoll and maxpoll out of range are clamped, and maxpoll raised to minpoll, each
    /// with a warning.
    fn clamp_polls(&mut self, assoc: &mut Association, a: &Args, seen: &SeenOptions) {
        for (tok, value, name) in [
            (seen.minpoll, &mut assoc.minpoll, "minpoll"),
            (seen.maxpoll, &mut assoc.maxpoll, "maxpoll"),
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
                a.location(seen.maxpoll.or(seen.minpoll).map(|t| t.column)),
                format!(
                    "minpoll {} is above maxpoll {}; using maxpoll {}",
                    assoc.minpoll, assoc.maxpoll, assoc.minpoll
                ),
            ));
            assoc.maxpoll = assoc.minpoll;
        }
    }

    /// NTS options apply with `nts` on the line (warned and ignored without it); NTS
    /// excludes `peer` and `key`.
    fn settle_nts(
        &mut self,
        assoc: &mut Association,
        a: &Args,
        seen: SeenOptions,
    ) -> LineResult<()> {
        match (&mut assoc.nts, seen.nts_tok) {
            (Some(nts), _) => *nts = seen.nts,
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
        Ok(())
    }

    pub(super) fn fudge(&mut self, a: &mut Args) -> LineResult<()> {
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
}

/// What an association line said besides its settings: where minpoll and maxpoll were
/// (for the warnings), and its NTS options with the first one's token.
#[derive(Default)]
struct SeenOptions<'t> {
    minpoll: Option<&'t Token>,
    maxpoll: Option<&'t Token>,
    nts: NtsOptions,
    nts_tok: Option<&'t Token>,
}

/// `ca FILE`, `noval`, `aead NAME`, `port N`: an NTS option, remembered with its token.
fn nts_option<'t>(opt: &'t Token, a: &mut Args<'t>, seen: &mut SeenOptions<'t>) -> LineResult<()> {
    let nts_opts = &mut seen.nts;
    match opt.text.as_str() {
        "ca" => {
            let f = a.expect("certificate file after ca")?;
            nts_opts.ca = Some(std::path::PathBuf::from(&f.text));
        }
        "noval" => nts_opts.noval = true,
        "aead" => {
            let t = a.expect("AEAD algorithm after aead")?;
            nts_opts.aead = Some(crate::wire::nts::aead::Aead::from_name(&t.text).ok_or_else(
                || {
                    a.error_at(
                        t,
                        format!(
                            "aead {}: not an NTS algorithm (AES_SIV_CMAC_256 or AES_SIV_CMAC_512)",
                            t.text
                        ),
                    )
                },
            )?);
        }
        _ => nts_opts.port = Some(a.uint("NTS-KE port", 1, 65535)? as u16),
    }
    seen.nts_tok.get_or_insert(opt);
    Ok(())
}

pub(super) fn kind_name(k: AssociationKind) -> &'static str {
    match k {
        AssociationKind::Server => "server",
        AssociationKind::Pool => "pool",
        AssociationKind::Peer => "peer",
    }
}

pub(super) fn merge_fudge(into: &mut Fudge, f: &Fudge) {
    into.stratum = f.stratum.or(into.stratum);
    into.refid = f.refid.clone().or(into.refid.take());
    into.time1 = f.time1.or(into.time1);
    into.time2 = f.time2.or(into.time2);
    for i in 0..4 {
        into.flags[i] = f.flags[i].or(into.flags[i]);
    }
    into.location = f.location.clone().or(into.location.take());
}

/// An association or fudge address: an IP literal (127.127.t.u is a refclock) or a name.
pub(super) fn parse_target(a: &Args, tok: &Token) -> LineResult<Target> {
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
