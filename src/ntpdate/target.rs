//! Server arguments: `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address, resolved to
//! every address of the name (ntpdate queries them all, each as its own server).

use std::net::{SocketAddr, ToSocketAddrs};

pub const NTP_PORT: u16 = 123;

pub use crate::config::Family;

/// A server argument split into host and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The argument as given, for messages.
    pub arg: String,
    pub host: String,
    pub port: u16,
}

/// Split an argument. A port that is not a number makes the whole argument a host name,
/// which then fails to resolve with the usual message.
pub fn parse(arg: &str) -> Target {
    let plain = |host: &str, port: u16| Target {
        arg: arg.to_string(),
        host: host.to_string(),
        port,
    };
    if let Some(rest) = arg.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            if tail.is_empty() {
                return plain(host, NTP_PORT);
            }
            if let Some(port) = tail.strip_prefix(':').and_then(|p| p.parse().ok()) {
                return plain(host, port);
            }
        }
        return plain(arg, NTP_PORT);
    }
    match arg.split_once(':') {
        // Exactly one colon: HOST:PORT. More than one: a bare IPv6 address.
        Some((host, port)) if !port.contains(':') => match port.parse() {
            Ok(p) => plain(host, p),
            Err(_) => plain(arg, NTP_PORT),
        },
        _ => plain(arg, NTP_PORT),
    }
}

/// Every address of the target in the requested family, in resolver order, without
/// duplicates. `None` when the name does not resolve (or has no address of that family).
pub fn resolve(target: &Target, family: Family) -> Option<Vec<SocketAddr>> {
    if target.host.is_empty() {
        return None;
    }
    let found = (target.host.as_str(), target.port).to_socket_addrs().ok()?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for a in found {
        if family.admits(a.ip()) && !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    (!addrs.is_empty()).then_some(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = |a: &str| {
            let t = parse(a);
            (t.host, t.port)
        };
        assert_eq!(t("ntp.example"), ("ntp.example".into(), 123));
        assert_eq!(t("192.0.2.1:1123"), ("192.0.2.1".into(), 1123));
        assert_eq!(t("[::1]:1123"), ("::1".into(), 1123));
        assert_eq!(t("[::1]"), ("::1".into(), 123));
        assert_eq!(t("fe80::1"), ("fe80::1".into(), 123));
        assert_eq!(t("host:nope"), ("host:nope".into(), 123));
        assert_eq!(t("[::1]x"), ("[::1]x".into(), 123));
    }

    #[test]
    fn resolves_literals_and_filters_family() {
        let v4 = parse("127.0.0.1:1234");
        assert_eq!(
            resolve(&v4, Family::Any),
            Some(vec!["127.0.0.1:1234".parse().unwrap()])
        );
        assert_eq!(resolve(&v4, Family::V6), None);
        assert_eq!(resolve(&parse("[::1]"), Family::V4), None);
        assert_eq!(resolve(&parse(""), Family::Any), None);
    }
}
