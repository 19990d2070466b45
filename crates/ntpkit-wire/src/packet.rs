//! The 48-byte NTP header (RFC 5905 §7.3) for versions 1–4, modes 1–5.
//!
//! Extension fields and the legacy MAC trailer that may follow the header are handled in
//! `wire::auth` / `wire::extension`; this module knows only the fixed part.

use super::time::{NtpShort, NtpTimestamp};
use std::fmt;
use std::net::IpAddr;

pub const HEADER_LEN: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leap {
    NoWarning = 0,
    /// Last minute of the day has 61 seconds.
    Insert = 1,
    /// Last minute of the day has 59 seconds.
    Delete = 2,
    /// Clock unsynchronised.
    Unsync = 3,
}

impl Leap {
    pub fn from_bits(b: u8) -> Leap {
        match b & 3 {
            0 => Leap::NoWarning,
            1 => Leap::Insert,
            2 => Leap::Delete,
            _ => Leap::Unsync,
        }
    }
    pub fn bits(self) -> u8 {
        self as u8
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Reserved = 0,
    SymmetricActive = 1,
    SymmetricPassive = 2,
    Client = 3,
    Server = 4,
    Broadcast = 5,
    Control = 6,
    Private = 7,
}

impl Mode {
    pub fn from_bits(b: u8) -> Mode {
        match b & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }
    pub fn bits(self) -> u8 {
        self as u8
    }
}

/// The 4-byte reference identifier. Its meaning depends on the stratum (RFC 5905 §7.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RefId(pub [u8; 4]);

impl RefId {
    /// An ASCII code such as `LOCL`, `INIT` or a kiss code such as `RATE`, NUL-padded.
    pub fn from_ascii(code: &str) -> RefId {
        let mut b = [0u8; 4];
        for (i, c) in code.bytes().take(4).enumerate() {
            b[i] = c;
        }
        RefId(b)
    }

    /// The refid a server at stratum 2–15 advertises for its upstream `addr`: the IPv4
    /// address itself, or the first four bytes of the MD5 of an IPv6 address.
    pub fn from_addr(addr: IpAddr) -> RefId {
        match addr {
            IpAddr::V4(v4) => RefId(v4.octets()),
            IpAddr::V6(v6) => {
                use md5::{Digest, Md5};
                let h = Md5::digest(v6.octets());
                RefId([h[0], h[1], h[2], h[3]])
            }
        }
    }

    /// The ASCII text of a code refid: printable characters up to the first NUL, others
    /// shown as `.` (ntpd's rendering).
    pub fn ascii(&self) -> String {
        self.0
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| {
                if (0x20..0x7f).contains(&c) {
                    c as char
                } else {
                    '.'
                }
            })
            .collect()
    }

    /// The dotted-quad rendering used for stratum 2–15 refids.
    pub fn dotted(&self) -> String {
        format!("{}.{}.{}.{}", self.0[0], self.0[1], self.0[2], self.0[3])
    }

    /// How ntpd renders a refid for a given stratum: ASCII for 0, 1 and 16 (and
    /// unsynchronised servers), dotted quad otherwise.
    pub fn render(&self, stratum: u8) -> String {
        if stratum <= 1 || stratum >= 16 {
            self.ascii()
        } else {
            self.dotted()
        }
    }

    pub fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

impl fmt::Debug for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.iter().all(|&c| c == 0 || (0x20..0x7f).contains(&c)) && self.0[0] != 0 {
            write!(f, "RefId({:?})", self.ascii())
        } else {
            write!(f, "RefId({})", self.dotted())
        }
    }
}

/// Kiss-o'-Death codes (RFC 5905 §7.4) we act on; others are kept verbatim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KissCode {
    /// Reduce the poll rate.
    Rate,
    /// Access denied: stop talking to this server.
    Deny,
    /// Access restricted: stop talking to this server.
    Rstr,
    /// Any other code, e.g. `INIT` or `STEP` (informational).
    Other([u8; 4]),
}

impl KissCode {
    pub fn from_refid(r: RefId) -> KissCode {
        match &r.0 {
            b"RATE" => KissCode::Rate,
            b"DENY" => KissCode::Deny,
            b"RSTR" => KissCode::Rstr,
            other => KissCode::Other(*other),
        }
    }
    /// DENY and RSTR oblige the client to stop using the server.
    pub fn demobilizes(self) -> bool {
        matches!(self, KissCode::Deny | KissCode::Rstr)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub leap: Leap,
    pub version: u8,
    pub mode: Mode,
    /// Wire stratum: 0 = unspecified/KoD, 1 primary, 2–15 secondary, 16 unsynchronised.
    pub stratum: u8,
    /// log2 seconds
    pub poll: i8,
    /// log2 seconds
    pub precision: i8,
    pub root_delay: NtpShort,
    pub root_dispersion: NtpShort,
    pub reference_id: RefId,
    pub reference_ts: NtpTimestamp,
    pub origin_ts: NtpTimestamp,
    pub receive_ts: NtpTimestamp,
    pub transmit_ts: NtpTimestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("packet too short: {0} bytes, an NTP header needs 48")]
    TooShort(usize),
    #[error("unsupported NTP version {0}")]
    BadVersion(u8),
}

impl Header {
    /// A client request (mode 3) with the given version and transmit timestamp, everything
    /// else zero as ntpd and chrony send it.
    pub fn client_request(version: u8, poll: i8, transmit: NtpTimestamp) -> Header {
        Header {
            leap: Leap::Unsync,
            version,
            mode: Mode::Client,
            stratum: 0,
            poll,
            precision: 0,
            root_delay: NtpShort(0),
            root_dispersion: NtpShort(0),
            reference_id: RefId::default(),
            reference_ts: NtpTimestamp::ZERO,
            origin_ts: NtpTimestamp::ZERO,
            receive_ts: NtpTimestamp::ZERO,
            transmit_ts: transmit,
        }
    }

    /// Parse the first 48 bytes. Accepts versions 1–4 (what ntpd accepts); anything after
    /// the header is the caller's business.
    pub fn parse(buf: &[u8]) -> Result<Header, HeaderError> {
        if buf.len() < HEADER_LEN {
            return Err(HeaderError::TooShort(buf.len()));
        }
        let version = (buf[0] >> 3) & 7;
        if !(1..=4).contains(&version) {
            return Err(HeaderError::BadVersion(version));
        }
        let u32_at = |o: usize| u32::from_be_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
        let ts_at = |o: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[o..o + 8]);
            NtpTimestamp::from_be_bytes(b)
        };
        Ok(Header {
            leap: Leap::from_bits(buf[0] >> 6),
            version,
            mode: Mode::from_bits(buf[0]),
            stratum: buf[1],
            poll: buf[2] as i8,
            precision: buf[3] as i8,
            root_delay: NtpShort(u32_at(4)),
            root_dispersion: NtpShort(u32_at(8)),
            reference_id: RefId([buf[12], buf[13], buf[14], buf[15]]),
            reference_ts: ts_at(16),
            origin_ts: ts_at(24),
            receive_ts: ts_at(32),
            transmit_ts: ts_at(40),
        })
    }

    pub fn serialize(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.leap.bits() << 6) | ((self.version & 7) << 3) | self.mode.bits();
        b[1] = self.stratum;
        b[2] = self.poll as u8;
        b[3] = self.precision as u8;
        b[4..8].copy_from_slice(&self.root_delay.0.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.0.to_be_bytes());
        b[12..16].copy_from_slice(&self.reference_id.0);
        b[16..24].copy_from_slice(&self.reference_ts.to_be_bytes());
        b[24..32].copy_from_slice(&self.origin_ts.to_be_bytes());
        b[32..40].copy_from_slice(&self.receive_ts.to_be_bytes());
        b[40..48].copy_from_slice(&self.transmit_ts.to_be_bytes());
        b
    }

    /// A Kiss-o'-Death reply: stratum 0 and LI 3 (RFC 5905 §7.4; ntpd also requires mode 4).
    pub fn kiss_code(&self) -> Option<KissCode> {
        if self.stratum == 0 && self.leap == Leap::Unsync && self.mode == Mode::Server {
            Some(KissCode::from_refid(self.reference_id))
        } else {
            None
        }
    }

    /// The Kiss-o'-Death instruction this reply carries: RATE, DENY or RSTR, the only codes
    /// with protocol significance (RFC 5905 §7.4; ntpd's `kiss_code_check` acts on no
    /// other). Any other code (INIT, STEP, X…) is an unsynchronised server's ordinary
    /// reply, discarded as a sample and no reason to stop asking, as NTPsec's ntpdig drops
    /// every stratum-0 reply. The one rule for the engine and ntpdate.
    pub fn kiss_instruction(&self) -> Option<KissCode> {
        self.kiss_code()
            .filter(|k| !matches!(k, KissCode::Other(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            leap: Leap::Insert,
            version: 4,
            mode: Mode::Server,
            stratum: 2,
            poll: 6,
            precision: -23,
            root_delay: NtpShort(0x1234),
            root_dispersion: NtpShort(0x5678),
            reference_id: RefId([192, 0, 2, 10]),
            reference_ts: NtpTimestamp(1),
            origin_ts: NtpTimestamp(2),
            receive_ts: NtpTimestamp(3),
            transmit_ts: NtpTimestamp(u64::MAX),
        };
        let b = h.serialize();
        assert_eq!(b[0], 0b01_100_100);
        assert_eq!(Header::parse(&b).unwrap(), h);
    }

    #[test]
    fn kod_rate() {
        let mut h = Header::client_request(4, 6, NtpTimestamp(5));
        h.mode = Mode::Server;
        h.stratum = 0;
        h.reference_id = RefId::from_ascii("RATE");
        assert_eq!(h.kiss_code(), Some(KissCode::Rate));
        h.reference_id = RefId::from_ascii("DENY");
        assert!(h.kiss_code().unwrap().demobilizes());
    }

    #[test]
    fn only_rate_deny_and_rstr_are_kiss_instructions() {
        let mut h = Header::client_request(4, 6, NtpTimestamp(5));
        h.mode = Mode::Server;
        h.stratum = 0;
        for (code, kiss) in [
            ("RATE", Some(KissCode::Rate)),
            ("DENY", Some(KissCode::Deny)),
            ("RSTR", Some(KissCode::Rstr)),
            ("INIT", None),
            ("STEP", None),
            ("AUTH", None),
            ("CRYP", None),
            ("NKEY", None),
            ("XFOO", None),
        ] {
            h.reference_id = RefId::from_ascii(code);
            assert_eq!(h.kiss_instruction(), kiss, "{code}");
        }
        // RATE outside a kiss-shaped reply (synchronised, or not mode 4) is no kiss
        h.reference_id = RefId::from_ascii("RATE");
        h.leap = Leap::NoWarning;
        assert_eq!(h.kiss_instruction(), None);
        h.leap = Leap::Unsync;
        h.mode = Mode::SymmetricActive;
        assert_eq!(h.kiss_instruction(), None);
    }

    #[test]
    fn short_and_bad_version_rejected() {
        assert_eq!(Header::parse(&[0u8; 47]), Err(HeaderError::TooShort(47)));
        let mut b = [0u8; 48];
        b[0] = 5 << 3 | 3;
        assert_eq!(Header::parse(&b), Err(HeaderError::BadVersion(5)));
    }
}
