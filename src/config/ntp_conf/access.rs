//! Who may do what: `restrict`, `discard` and `trustedkey` lines.

use super::*;

impl Parser {
    pub(super) fn restrict(&mut self, a: &mut Args) -> LineResult<()> {
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

    pub(super) fn discard(&mut self, a: &mut Args) -> LineResult<()> {
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

    pub(super) fn trustedkey(&mut self, a: &mut Args) -> LineResult<()> {
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
}

/// `addr/prefix` (an ntpkit extension for restrict; NTPsec syntax for interface).
pub(super) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let ip = parse_ip(addr)?;
    let p: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (p <= max).then_some((ip, p))
}
