//! Access control: the `restrict` list and its lookup.
//!
//! Matching follows ntpd: the entry whose mask has the most one-bits among those that
//! match the source address wins (the most specific), and each address family has its own
//! `default` entry that matches everything. Flag bits are ntpd's `RES_*` values, because
//! they appear verbatim on the wire (`rs.#` in mode 6 MRU replies).

use std::fmt;
use std::net::IpAddr;

/// A set of `restrict` flags, with ntpd's `RES_*` bit values (ntp.org include/ntp.h).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RestrictFlags(pub u32);

impl RestrictFlags {
    pub const NONE: RestrictFlags = RestrictFlags(0);
    /// `ignore`: drop every packet.
    pub const IGNORE: RestrictFlags = RestrictFlags(0x0001);
    /// `noserve`: no time service (modes 1–5 dropped; mode 6 still allowed).
    pub const NOSERVE: RestrictFlags = RestrictFlags(0x0002);
    /// `notrust`: only authenticated packets are acceptable.
    pub const NOTRUST: RestrictFlags = RestrictFlags(0x0004);
    /// `version`: drop packets whose version is not the current one.
    pub const VERSION: RestrictFlags = RestrictFlags(0x0008);
    /// `nopeer`: no unauthenticated mobilisation of symmetric associations.
    pub const NOPEER: RestrictFlags = RestrictFlags(0x0010);
    /// `limited`: rate limit per `discard`.
    pub const LIMITED: RestrictFlags = RestrictFlags(0x0020);
    /// `noquery`: drop mode 6 and 7.
    pub const NOQUERY: RestrictFlags = RestrictFlags(0x0040);
    /// `nomodify`: no run-time configuration changes (mode 6 writes).
    pub const NOMODIFY: RestrictFlags = RestrictFlags(0x0080);
    /// `notrap`: no mode 6 trap service.
    pub const NOTRAP: RestrictFlags = RestrictFlags(0x0100);
    /// `lowpriotrap`: traps set by these hosts are low priority.
    pub const LPTRAP: RestrictFlags = RestrictFlags(0x0200);
    /// `kod`: answer a `limited` violation with a KoD RATE packet.
    pub const KOD: RestrictFlags = RestrictFlags(0x0400);
    /// `mssntp`: Microsoft signing (not implemented by ntpkit; kept for display).
    pub const MSSNTP: RestrictFlags = RestrictFlags(0x0800);
    /// `flake`: drop 10% of packets (testing).
    pub const FLAKE: RestrictFlags = RestrictFlags(0x1000);
    /// `nomrulist`: no mode 6 MRU list.
    pub const NOMRULIST: RestrictFlags = RestrictFlags(0x2000);
    /// `noepeer` (ntp.org 4.2.8p12+): no ephemeral peer associations even if authenticated.
    pub const NOEPEER: RestrictFlags = RestrictFlags(0x4000);
    /// `serverresponse fuzz` (ntp.org 4.2.8p12+): fuzz the low bits of server timestamps.
    pub const SERVERRESPONSE_FUZZ: RestrictFlags = RestrictFlags(0x8000);

    /// Keyword ↔ flag, in ntpd's display order.
    pub const NAMES: &'static [(&'static str, RestrictFlags)] = &[
        ("ignore", Self::IGNORE),
        ("noserve", Self::NOSERVE),
        ("notrust", Self::NOTRUST),
        ("version", Self::VERSION),
        ("nopeer", Self::NOPEER),
        ("limited", Self::LIMITED),
        ("noquery", Self::NOQUERY),
        ("nomodify", Self::NOMODIFY),
        ("notrap", Self::NOTRAP),
        ("lowpriotrap", Self::LPTRAP),
        ("kod", Self::KOD),
        ("mssntp", Self::MSSNTP),
        ("flake", Self::FLAKE),
        ("nomrulist", Self::NOMRULIST),
        ("noepeer", Self::NOEPEER),
        ("serverresponse fuzz", Self::SERVERRESPONSE_FUZZ),
    ];

    /// The flag a single `restrict` keyword names (`serverresponse fuzz` is two words and
    /// handled by the parser).
    pub fn from_keyword(word: &str) -> Option<RestrictFlags> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == word)
            .map(|&(_, f)| f)
    }
    pub fn contains(self, other: RestrictFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn bits(self) -> u32 {
        self.0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for RestrictFlags {
    type Output = RestrictFlags;
    fn bitor(self, rhs: RestrictFlags) -> RestrictFlags {
        RestrictFlags(self.0 | rhs.0)
    }
}
impl std::ops::BitOrAssign for RestrictFlags {
    fn bitor_assign(&mut self, rhs: RestrictFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for RestrictFlags {
    /// The keywords, space separated, as in ntp.conf (e.g. `kod nomodify notrap`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Self::NAMES
            .iter()
            .filter(|(_, fl)| self.contains(*fl))
            .map(|(n, _)| *n)
            .collect();
        let known = Self::NAMES.iter().fold(0, |a, (_, fl)| a | fl.0);
        if self.0 & !known != 0 {
            write!(
                f,
                "RestrictFlags({} +{:#x})",
                names.join(" "),
                self.0 & !known
            )
        } else {
            write!(f, "RestrictFlags({})", names.join(" "))
        }
    }
}

/// One address/mask entry. The address is stored already masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestrictEntry {
    pub addr: IpAddr,
    pub mask: IpAddr,
    pub flags: RestrictFlags,
    /// `ntpport`: the entry matches only packets from source port 123.
    pub ntpport_only: bool,
}

impl RestrictEntry {
    /// An entry for `addr` under `mask` (the address is masked here).
    pub fn new(addr: IpAddr, mask: IpAddr, flags: RestrictFlags, ntpport_only: bool) -> Self {
        RestrictEntry {
            addr: apply_mask(addr, mask),
            mask,
            flags,
            ntpport_only,
        }
    }

    fn mask_bits(&self) -> u32 {
        match self.mask {
            IpAddr::V4(m) => u32::from(m).count_ones(),
            IpAddr::V6(m) => u128::from(m).count_ones(),
        }
    }

    fn matches(&self, addr: IpAddr, port: Option<u16>) -> bool {
        if self.ntpport_only && port != Some(123) {
            return false;
        }
        same_family(self.addr, addr) && apply_mask(addr, self.mask) == self.addr
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// `addr & mask`; a mask of the other family leaves nothing (never matches).
pub fn apply_mask(addr: IpAddr, mask: IpAddr) -> IpAddr {
    match (addr, mask) {
        (IpAddr::V4(a), IpAddr::V4(m)) => IpAddr::V4((u32::from(a) & u32::from(m)).into()),
        (IpAddr::V6(a), IpAddr::V6(m)) => IpAddr::V6((u128::from(a) & u128::from(m)).into()),
        (IpAddr::V4(_), _) => IpAddr::V4(0.into()),
        (IpAddr::V6(_), _) => IpAddr::V6(0.into()),
    }
}

/// The mask with the first `prefix` bits set, for `addr`'s family.
pub fn prefix_mask(v6: bool, prefix: u8) -> IpAddr {
    if v6 {
        let p = u32::from(prefix.min(128));
        let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
        IpAddr::V6(m.into())
    } else {
        let p = u32::from(prefix.min(32));
        let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
        IpAddr::V4(m.into())
    }
}

/// The whole access-control list: per-family defaults plus address entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Restrictions {
    /// `restrict default` / `restrict -4 default`. Empty (allow all) when not configured,
    /// as in ntpd.
    pub default_v4: RestrictFlags,
    /// `restrict default` / `restrict -6 default`.
    pub default_v6: RestrictFlags,
    /// `restrict source …`: applied to every association's address as the daemon
    /// resolves it (see [`Restrictions::add_source`]).
    pub source: Option<RestrictFlags>,
    pub entries: Vec<RestrictEntry>,
    /// `restrict HOSTNAME …` lines: resolved by the daemon (the parser does no DNS), then
    /// added with [`Restrictions::add`] for every address of the name.
    pub unresolved: Vec<(String, Option<IpAddr>, RestrictFlags)>,
    /// Host entries that [`Restrictions::add_source`] created (not configured ones): they
    /// go again with their association ([`Restrictions::remove_source`]).
    source_hosts: Vec<IpAddr>,
}

impl Default for Restrictions {
    fn default() -> Self {
        Restrictions::allow_all()
    }
}

impl Restrictions {
    /// No `restrict` lines at all: everything allowed (ntpd's behaviour).
    pub fn allow_all() -> Restrictions {
        Restrictions {
            default_v4: RestrictFlags::NONE,
            default_v6: RestrictFlags::NONE,
            source: None,
            entries: Vec::new(),
            unresolved: Vec::new(),
            source_hosts: Vec::new(),
        }
    }

    /// Add an entry. An entry with the same address, mask and port rule as an existing one
    /// adds its flags to it (ntpd ORs flags into an existing entry).
    pub fn add(&mut self, entry: RestrictEntry) {
        if let Some(e) = self.entries.iter_mut().find(|e| {
            e.addr == entry.addr && e.mask == entry.mask && e.ntpport_only == entry.ntpport_only
        }) {
            e.flags |= entry.flags;
        } else {
            self.entries.push(entry);
        }
    }

    /// For `restrict source`: add a host entry for an association's resolved address with
    /// the `source` flags (no-op without a `restrict source` line).
    pub fn add_source(&mut self, addr: IpAddr) {
        if let Some(flags) = self.source {
            let mask = prefix_mask(addr.is_ipv6(), 128);
            let entry = RestrictEntry::new(addr, mask, flags, false);
            let configured = self
                .entries
                .iter()
                .any(|e| e.addr == entry.addr && e.mask == entry.mask && !e.ntpport_only);
            if !configured && !self.source_hosts.contains(&addr) {
                self.source_hosts.push(addr);
            }
            self.add(entry);
        }
    }

    /// The association for `addr` went: the host entry `add_source` made for it goes too
    /// (ntpd's unpeer), so a pool's turnover does not grow the list. A configured entry for
    /// the same host stays.
    pub fn remove_source(&mut self, addr: IpAddr) {
        let Some(i) = self.source_hosts.iter().position(|a| *a == addr) else {
            return;
        };
        self.source_hosts.swap_remove(i);
        let mask = prefix_mask(addr.is_ipv6(), 128);
        self.entries
            .retain(|e| !(e.addr == addr && e.mask == mask && !e.ntpport_only));
    }

    /// The flags for a packet from `addr` (any source port).
    pub fn lookup(&self, addr: IpAddr) -> RestrictFlags {
        self.lookup_with_port(addr, None)
    }

    /// The flags for a packet from `addr`:`port`. Most specific match wins (longest mask);
    /// on equal masks an `ntpport` entry beats a plain one, as in ntpd's sort order.
    /// IPv4-mapped IPv6 sources (`::ffff:a.b.c.d`) are looked up as IPv4.
    pub fn lookup_with_port(&self, addr: IpAddr, port: Option<u16>) -> RestrictFlags {
        let addr = match addr {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        self.entries
            .iter()
            .filter(|e| e.matches(addr, port))
            .max_by_key(|e| (e.mask_bits(), e.ntpport_only))
            .map(|e| e.flags)
            .unwrap_or(if addr.is_ipv4() {
                self.default_v4
            } else {
                self.default_v6
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn seed_like() -> Restrictions {
        let mut r = Restrictions::allow_all();
        let dflt = RestrictFlags::KOD
            | RestrictFlags::NOMODIFY
            | RestrictFlags::NOTRAP
            | RestrictFlags::NOPEER
            | RestrictFlags::NOQUERY;
        r.default_v4 = dflt;
        r.default_v6 = dflt;
        r.add(RestrictEntry::new(
            ip("127.0.0.1"),
            prefix_mask(false, 32),
            RestrictFlags::NONE,
            false,
        ));
        r.add(RestrictEntry::new(
            ip("::1"),
            prefix_mask(true, 128),
            RestrictFlags::NONE,
            false,
        ));
        r.add(RestrictEntry::new(
            ip("192.168.100.0"),
            ip("255.255.255.0"),
            RestrictFlags::NOMODIFY,
            false,
        ));
        r
    }

    #[test]
    fn bit_values_are_ntpds() {
        assert_eq!(RestrictFlags::IGNORE.bits(), 0x1);
        assert_eq!(RestrictFlags::KOD.bits(), 0x400);
        assert_eq!(RestrictFlags::NOMRULIST.bits(), 0x2000);
        assert_eq!(
            RestrictFlags::from_keyword("noquery"),
            Some(RestrictFlags::NOQUERY)
        );
        assert_eq!(RestrictFlags::from_keyword("Noquery"), None);
    }

    #[test]
    fn most_specific_match_wins() {
        let r = seed_like();
        assert_eq!(r.lookup(ip("127.0.0.1")), RestrictFlags::NONE);
        assert_eq!(r.lookup(ip("::1")), RestrictFlags::NONE);
        assert_eq!(r.lookup(ip("192.168.100.77")), RestrictFlags::NOMODIFY);
        assert!(r
            .lookup(ip("192.168.101.1"))
            .contains(RestrictFlags::NOQUERY));
        assert!(r.lookup(ip("2001:db8::1")).contains(RestrictFlags::KOD));
        assert_eq!(r.lookup(ip("::ffff:127.0.0.1")), RestrictFlags::NONE);
    }

    #[test]
    fn longer_mask_beats_shorter_regardless_of_order() {
        let mut r = Restrictions::allow_all();
        r.default_v4 = RestrictFlags::IGNORE;
        r.add(RestrictEntry::new(
            ip("10.1.2.3"),
            prefix_mask(false, 32),
            RestrictFlags::KOD,
            false,
        ));
        r.add(RestrictEntry::new(
            ip("10.0.0.0"),
            prefix_mask(false, 8),
            RestrictFlags::NOQUERY,
            false,
        ));
        r.add(RestrictEntry::new(
            ip("10.1.0.0"),
            prefix_mask(false, 16),
            RestrictFlags::NOSERVE,
            false,
        ));
        assert_eq!(r.lookup(ip("10.1.2.3")), RestrictFlags::KOD);
        assert_eq!(r.lookup(ip("10.1.9.9")), RestrictFlags::NOSERVE);
        assert_eq!(r.lookup(ip("10.2.0.1")), RestrictFlags::NOQUERY);
        assert_eq!(r.lookup(ip("11.0.0.1")), RestrictFlags::IGNORE);
        // an IPv4 entry never matches IPv6 and vice versa
        assert_eq!(r.lookup(ip("::a01:203")), RestrictFlags::NONE);
    }

    #[test]
    fn same_entry_twice_ors_flags_and_ntpport_needs_port_123() {
        let mut r = Restrictions::allow_all();
        let m = prefix_mask(false, 32);
        r.add(RestrictEntry::new(
            ip("192.0.2.1"),
            m,
            RestrictFlags::KOD,
            false,
        ));
        r.add(RestrictEntry::new(
            ip("192.0.2.1"),
            m,
            RestrictFlags::LIMITED,
            false,
        ));
        assert_eq!(r.entries.len(), 1);
        assert_eq!(
            r.lookup(ip("192.0.2.1")),
            RestrictFlags::KOD | RestrictFlags::LIMITED
        );
        r.add(RestrictEntry::new(
            ip("192.0.2.1"),
            m,
            RestrictFlags::IGNORE,
            true,
        ));
        assert_eq!(
            r.lookup_with_port(ip("192.0.2.1"), Some(123)),
            RestrictFlags::IGNORE
        );
        assert_eq!(
            r.lookup_with_port(ip("192.0.2.1"), Some(40000)),
            RestrictFlags::KOD | RestrictFlags::LIMITED
        );
    }

    #[test]
    fn source_template_applies_to_association_addresses() {
        let mut r = Restrictions::allow_all();
        r.default_v4 = RestrictFlags::IGNORE;
        r.source = Some(RestrictFlags::NOQUERY);
        r.add_source(ip("198.18.0.1"));
        assert_eq!(r.lookup(ip("198.18.0.1")), RestrictFlags::NOQUERY);
        assert_eq!(r.lookup(ip("198.18.0.2")), RestrictFlags::IGNORE);
        r.remove_source(ip("198.18.0.1"));
        assert_eq!(r.lookup(ip("198.18.0.1")), RestrictFlags::IGNORE);
    }

    #[test]
    fn removing_a_source_keeps_a_configured_entry_for_the_same_host() {
        let mut r = Restrictions::allow_all();
        r.default_v4 = RestrictFlags::IGNORE;
        r.source = Some(RestrictFlags::NOQUERY);
        r.add(RestrictEntry::new(
            ip("198.18.0.1"),
            prefix_mask(false, 32),
            RestrictFlags::NOTRAP,
            false,
        ));
        r.add_source(ip("198.18.0.1"));
        r.remove_source(ip("198.18.0.1"));
        assert!(r.lookup(ip("198.18.0.1")).contains(RestrictFlags::NOTRAP));
    }

    #[test]
    fn debug_lists_keywords() {
        let f = RestrictFlags::KOD | RestrictFlags::NOTRAP;
        assert_eq!(format!("{f:?}"), "RestrictFlags(notrap kod)");
    }
}
