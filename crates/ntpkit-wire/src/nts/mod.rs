//! Network Time Security (RFC 8915), the wire half shared by the client and the server:
//! NTS-KE records ([`ke`]), the NTS extension fields of NTP packets ([`ef`]) and the AEAD
//! that seals them plus the TLS-exporter key derivation ([`aead`]).
//!
//! Bytes ↔ values only: no sockets, no TLS session, no clock, no random numbers (nonces and
//! unique identifiers are passed in). Every decoder returns an error for malformed input and
//! never panics.

pub mod aead;
pub mod ef;
pub mod ke;

/// The NTS-KE "next protocol" id of NTPv4 (RFC 8915 §7.7).
pub const NEXT_PROTOCOL_NTPV4: u16 = 0;
/// The TCP port of NTS-KE (RFC 8915 §4).
pub const KE_PORT: u16 = 4460;
/// The TLS ALPN protocol id of NTS-KE (RFC 8915 §4).
pub const ALPN: &[u8] = b"ntske/1";
/// The TLS exporter label for the C2S/S2C keys (RFC 8915 §5.1).
pub const EXPORTER_LABEL: &str = "EXPORTER-network-time-security";
