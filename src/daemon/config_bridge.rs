//! ntp.conf → [`Settings`]. INTERIM: a minimal reader (restrict, LOCAL driver, driftfile,
//! pidfile, logfile) until the config layer's parser lands; then this becomes a mapping
//! from its model.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use super::access::*;
use super::settings::{LocalClock, Settings};
use crate::wire::packet::RefId;

pub fn builtin() -> Settings {
    Settings {
        builtin: true,
        ..Settings::default()
    }
}

pub fn from_file(path: &Path) -> Result<Settings, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read configuration: {e}", path.display()))?;
    let mut s = Settings::default();
    let mut table = RestrictTable::new();
    let mut any_restrict = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some(&kw) = w.first() else { continue };
        let at = format!("{}:{}", path.display(), n + 1);
        match kw {
            "server" if w.get(1).is_some_and(|a| a.starts_with("127.127.1.")) => {
                let address: Ipv4Addr = w[1]
                    .parse()
                    .map_err(|_| format!("{at}: bad address {}", w[1]))?;
                s.local_clock.get_or_insert(LocalClock {
                    stratum: 5,
                    refid: RefId::from_ascii("LOCL"),
                    address,
                });
            }
            "fudge" if w.get(1).is_some_and(|a| a.starts_with("127.127.1.")) => {
                let lc = s.local_clock.get_or_insert(LocalClock {
                    stratum: 5,
                    refid: RefId::from_ascii("LOCL"),
                    address: w[1]
                        .parse()
                        .map_err(|_| format!("{at}: bad address {}", w[1]))?,
                });
                let mut i = 2;
                while i + 1 < w.len() {
                    match w[i] {
                        "stratum" => {
                            lc.stratum =
                                w[i + 1].parse().map_err(|_| format!("{at}: bad stratum"))?
                        }
                        "refid" => lc.refid = RefId::from_ascii(w[i + 1]),
                        _ => {}
                    }
                    i += 2;
                }
            }
            "restrict" => {
                any_restrict = true;
                let mut i = 1;
                let mut v6 = false;
                if w.get(i) == Some(&"-4") {
                    i += 1;
                } else if w.get(i) == Some(&"-6") {
                    v6 = true;
                    i += 1;
                }
                let Some(target) = w.get(i) else {
                    return Err(format!("{at}: restrict needs an address"));
                };
                i += 1;
                let mut mask: Option<IpAddr> = None;
                if w.get(i) == Some(&"mask") {
                    mask = Some(
                        w.get(i + 1)
                            .and_then(|m| m.parse().ok())
                            .ok_or(format!("{at}: bad mask"))?,
                    );
                    i += 2;
                }
                let mut flags = 0;
                for f in &w[i..] {
                    flags |= match *f {
                        "ignore" => RES_IGNORE,
                        "noserve" => RES_DONTSERVE,
                        "notrust" => RES_DONTTRUST,
                        "nopeer" => RES_NOPEER,
                        "limited" => RES_LIMITED,
                        "noquery" => RES_NOQUERY,
                        "nomodify" => RES_NOMODIFY,
                        "notrap" => RES_NOTRAP,
                        "kod" => RES_KOD,
                        _ => 0,
                    };
                }
                if *target == "default" {
                    let pairs: &[(&str, bool)] = if w[1] == "-4" {
                        &[("0.0.0.0", false)]
                    } else if v6 {
                        &[("::", true)]
                    } else {
                        &[("0.0.0.0", false), ("::", true)]
                    };
                    for (a, _) in pairs {
                        let a: IpAddr = a.parse().expect("literal");
                        table.set(a, a, flags);
                    }
                } else if *target == "source" {
                } else {
                    let a: IpAddr = target
                        .parse()
                        .map_err(|_| format!("{at}: bad address {target}"))?;
                    let full: IpAddr = if a.is_ipv4() {
                        "255.255.255.255".parse().expect("literal")
                    } else {
                        IpAddr::V6([0xffff; 8].into())
                    };
                    table.set(a, mask.unwrap_or(full), flags);
                }
            }
            "driftfile" => s.driftfile = w.get(1).map(Into::into),
            "pidfile" => s.pidfile = w.get(1).map(Into::into),
            "logfile" => s.logfile = w.get(1).map(Into::into),
            _ => {}
        }
    }
    if any_restrict {
        s.access = Arc::new(table);
    }
    Ok(s)
}
