//! `interface listen|ignore|drop …` (alias `nic`) as ntp.org applies it: the host's
//! addresses are enumerated and each gets the action of the *last* rule that matches it
//! (default listen); `ignore` leaves the address unopened, `drop` opens it and discards
//! whatever arrives. `all` leaves out loopback and the wildcards; 127.0.0.1 is always
//! listened on (ntpq and ntpstat need it); the wildcards are "listen and drop" unless a
//! rule says otherwise, so packets to ignored addresses are swallowed rather than answered
//! by the wildcard socket. Command-line `-I` replaces all of this (as in ntpd).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use crate::config::{InterfaceAction, InterfaceMatch, InterfaceRule};

use super::settings::Families;

/// One address of a local interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAddress {
    pub interface: String,
    pub addr: IpAddr,
    /// IPv6 scope (link-local addresses need it to bind).
    pub scope: u32,
}

/// Every address of every interface that is up (getifaddrs).
pub fn local_addresses() -> io::Result<Vec<LocalAddress>> {
    use nix::net::if_::InterfaceFlags;
    let mut out = Vec::new();
    for ifa in nix::ifaddrs::getifaddrs()? {
        if !ifa.flags.contains(InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(a) = ifa.address else { continue };
        let (addr, scope) = if let Some(sin) = a.as_sockaddr_in() {
            (IpAddr::V4(sin.ip()), 0)
        } else if let Some(sin6) = a.as_sockaddr_in6() {
            (IpAddr::V6(sin6.ip()), sin6.scope_id())
        } else {
            continue;
        };
        out.push(LocalAddress {
            interface: ifa.interface_name,
            addr,
            scope,
        });
    }
    Ok(out)
}

fn in_prefix(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(bits.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(bits.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What the rules say for an address (`interface` None: a wildcard address).
pub fn action_for(
    rules: &[InterfaceRule],
    interface: Option<&str>,
    addr: IpAddr,
) -> InterfaceAction {
    let wildcard = addr.is_unspecified();
    if !wildcard && addr == IpAddr::V4(Ipv4Addr::LOCALHOST) {
        return InterfaceAction::Listen;
    }
    let matches = |m: &InterfaceMatch| match m {
        InterfaceMatch::All => !wildcard && !addr.is_loopback(),
        InterfaceMatch::Ipv4 => addr.is_ipv4(),
        InterfaceMatch::Ipv6 => addr.is_ipv6(),
        InterfaceMatch::Wildcard => wildcard,
        InterfaceMatch::Name(n) => interface == Some(n.as_str()),
        InterfaceMatch::Prefix(net, bits) => !wildcard && in_prefix(addr, *net, *bits),
    };
    match rules.iter().rev().find(|r| matches(&r.matches)) {
        Some(r) => r.action,
        None if wildcard => InterfaceAction::Drop,
        None => InterfaceAction::Listen,
    }
}

/// A socket to open: where, and whether it only swallows packets (`drop`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub addr: SocketAddr,
    pub interface: String,
    pub drop: bool,
}

/// The sockets the rules ask for, given the host's addresses. A listening wildcard serves
/// every address, so then only the wildcard is opened (and drop-only addresses beside it).
pub fn plan(
    rules: &[InterfaceRule],
    families: Families,
    port: u16,
    addresses: &[LocalAddress],
) -> Vec<Planned> {
    let mut out = Vec::new();
    let wanted = |a: &IpAddr| (a.is_ipv4() && families.v4()) || (a.is_ipv6() && families.v6());
    let wildcards = [
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    ];
    for w in wildcards.iter().filter(|w| wanted(w)) {
        let action = action_for(rules, None, *w);
        let wild_listens = action == InterfaceAction::Listen;
        for a in addresses.iter().filter(|a| a.addr.is_ipv4() == w.is_ipv4()) {
            let drop = match action_for(rules, Some(&a.interface), a.addr) {
                InterfaceAction::Ignore => continue,
                InterfaceAction::Listen if wild_listens => continue,
                InterfaceAction::Listen => false,
                InterfaceAction::Drop => true,
            };
            let addr = match a.addr {
                IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, a.scope)),
                v4 => SocketAddr::new(v4, port),
            };
            out.push(Planned {
                addr,
                interface: a.interface.clone(),
                drop,
            });
        }
        if action != InterfaceAction::Ignore {
            out.push(Planned {
                addr: SocketAddr::new(*w, port),
                interface: if w.is_ipv4() {
                    "v4wildcard"
                } else {
                    "v6wildcard"
                }
                .into(),
                drop: !wild_listens,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Location;

    fn rule(action: InterfaceAction, matches: InterfaceMatch) -> InterfaceRule {
        InterfaceRule {
            action,
            matches,
            location: Location::new(std::path::Path::new("ntp.conf"), 1, None),
        }
    }

    fn host() -> Vec<LocalAddress> {
        [
            ("lo", "127.0.0.1"),
            ("lo", "::1"),
            ("eth0", "198.18.0.1"),
            ("eth0", "198.18.0.101"),
            ("eth1", "10.1.2.3"),
        ]
        .iter()
        .map(|(i, a)| LocalAddress {
            interface: i.to_string(),
            addr: a.parse().unwrap(),
            scope: 0,
        })
        .collect()
    }

    fn listened(p: &[Planned]) -> Vec<String> {
        p.iter()
            .map(|p| format!("{}{}", p.addr.ip(), if p.drop { " drop" } else { "" }))
            .collect()
    }

    #[test]
    fn the_last_matching_rule_wins_and_loopback_v4_is_always_open() {
        use InterfaceAction::*;
        let rules = vec![
            rule(Ignore, InterfaceMatch::All),
            rule(Listen, InterfaceMatch::Name("eth0".into())),
            rule(
                Ignore,
                InterfaceMatch::Prefix("198.18.0.101".parse().unwrap(), 32),
            ),
            rule(Drop, InterfaceMatch::Prefix("10.0.0.0".parse().unwrap(), 8)),
        ];
        let p = plan(&rules, Families::Both, 123, &host());
        assert_eq!(
            listened(&p),
            [
                "127.0.0.1",
                "198.18.0.1",
                "10.1.2.3 drop",
                "0.0.0.0 drop",
                "::1",
                ":: drop"
            ]
        );
        // `all` leaves loopback alone; `ipv6` takes it
        let rules = vec![rule(Ignore, InterfaceMatch::Ipv6)];
        let p = plan(&rules, Families::Both, 123, &host());
        assert!(!listened(&p).iter().any(|a| a.contains(':')), "{p:?}");
    }

    #[test]
    fn a_listening_wildcard_serves_everything_but_drops_stay_separate() {
        use InterfaceAction::*;
        let rules = vec![
            rule(Listen, InterfaceMatch::Wildcard),
            rule(Drop, InterfaceMatch::Name("eth1".into())),
        ];
        let p = plan(&rules, Families::V4Only, 123, &host());
        assert_eq!(listened(&p), ["10.1.2.3 drop", "0.0.0.0"]);
        assert_eq!(
            action_for(&[], None, "0.0.0.0".parse().unwrap()),
            InterfaceAction::Drop
        );
    }
}
