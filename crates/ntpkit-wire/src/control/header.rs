//! The fixed 12-byte mode 6 header and one datagram: [`ControlHeader`] ↔ bytes, opcodes
//! and error codes, decoding a datagram with its optional key id + MAC trailer, encoding
//! one with or without it.

use super::{HEADER_LEN, MODE_CONTROL};
use std::fmt;

/// Bytes after the 8-aligned data that can hold a key id plus MAC (4 + 0..20).
pub(super) const MIN_TRAILER: usize = 4;
pub(super) const MAX_TRAILER: usize = 24;

const BIT_RESPONSE: u8 = 0x80;
const BIT_ERROR: u8 = 0x40;
const BIT_MORE: u8 = 0x20;
const OPCODE_MASK: u8 = 0x1f;

/// A mode 6 opcode. Kept open (a newtype, not an enum) because a decoder must carry
/// opcodes it does not know back to the peer in a BADOP error.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

impl Opcode {
    pub const UNSPEC: Opcode = Opcode(0);
    pub const READSTAT: Opcode = Opcode(1);
    pub const READVAR: Opcode = Opcode(2);
    pub const WRITEVAR: Opcode = Opcode(3);
    pub const READCLOCK: Opcode = Opcode(4);
    pub const WRITECLOCK: Opcode = Opcode(5);
    pub const SETTRAP: Opcode = Opcode(6);
    pub const ASYNCMSG: Opcode = Opcode(7);
    pub const CONFIGURE: Opcode = Opcode(8);
    pub const SAVECONFIG: Opcode = Opcode(9);
    pub const READ_MRU: Opcode = Opcode(10);
    pub const READ_ORDLIST_A: Opcode = Opcode(11);
    pub const REQ_NONCE: Opcode = Opcode(12);
    pub const UNSETTRAP: Opcode = Opcode(31);

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "UNSPEC",
            1 => "READSTAT",
            2 => "READVAR",
            3 => "WRITEVAR",
            4 => "READCLOCK",
            5 => "WRITECLOCK",
            6 => "SETTRAP",
            7 => "ASYNCMSG",
            8 => "CONFIGURE",
            9 => "SAVECONFIG",
            10 => "READ_MRU",
            11 => "READ_ORDLIST_A",
            12 => "REQ_NONCE",
            31 => "UNSETTRAP",
            _ => "UNKNOWN",
        }
    }
}

impl fmt::Debug for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// Error codes carried in the high byte of the status word of an error reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode(pub u8);

impl ErrorCode {
    pub const UNSPEC: ErrorCode = ErrorCode(0);
    pub const PERMISSION: ErrorCode = ErrorCode(1);
    pub const BADFMT: ErrorCode = ErrorCode(2);
    pub const BADOP: ErrorCode = ErrorCode(3);
    pub const BADASSOC: ErrorCode = ErrorCode(4);
    pub const UNKNOWNVAR: ErrorCode = ErrorCode(5);
    pub const BADVALUE: ErrorCode = ErrorCode(6);
    pub const RESTRICT: ErrorCode = ErrorCode(7);

    /// The line ntpq prints on stderr for this error (`show_error_msg`).
    pub fn ntpq_message(self, assoc: u16) -> String {
        match self.0 {
            0 => "***Server returned an unspecified error".into(),
            1 => "***Server disallowed request (authentication?)".into(),
            2 => "***Server reports a bad format request packet".into(),
            3 => "***Server reports a bad opcode in request".into(),
            4 => format!("***Association ID {assoc} unknown to server"),
            5 => "***A request variable unknown to the server".into(),
            6 => "***Server indicates a request variable was bad".into(),
            n => format!("***Server returns unknown error code {n}"),
        }
    }
}

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlHeader {
    pub leap: u8,
    pub version: u8,
    pub response: bool,
    pub error: bool,
    pub more: bool,
    pub opcode: Opcode,
    pub sequence: u16,
    pub status: u16,
    pub assoc_id: u16,
    pub offset: u16,
    pub count: u16,
}

impl ControlHeader {
    /// A request header as ntpq sends it (LI 0, no flags, offset 0).
    pub fn request(version: u8, opcode: Opcode, sequence: u16, assoc_id: u16) -> ControlHeader {
        ControlHeader {
            leap: 0,
            version,
            response: false,
            error: false,
            more: false,
            opcode,
            sequence,
            status: 0,
            assoc_id,
            offset: 0,
            count: 0,
        }
    }

    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = (self.leap & 3) << 6 | (self.version & 7) << 3 | MODE_CONTROL;
        b[1] = self.opcode.0 & OPCODE_MASK
            | if self.response { BIT_RESPONSE } else { 0 }
            | if self.error { BIT_ERROR } else { 0 }
            | if self.more { BIT_MORE } else { 0 };
        b[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        b[4..6].copy_from_slice(&self.status.to_be_bytes());
        b[6..8].copy_from_slice(&self.assoc_id.to_be_bytes());
        b[8..10].copy_from_slice(&self.offset.to_be_bytes());
        b[10..12].copy_from_slice(&self.count.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> ControlHeader {
        let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        ControlHeader {
            leap: b[0] >> 6,
            version: (b[0] >> 3) & 7,
            response: b[1] & BIT_RESPONSE != 0,
            error: b[1] & BIT_ERROR != 0,
            more: b[1] & BIT_MORE != 0,
            opcode: Opcode(b[1] & OPCODE_MASK),
            sequence: be(2),
            status: be(4),
            assoc_id: be(6),
            offset: be(8),
            count: be(10),
        }
    }

    /// The error code of an error reply (high byte of the status word).
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode((self.status >> 8) as u8)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("control packet too short ({0} bytes, need 12)")]
    TooShort(usize),
    #[error("not a mode 6 packet (mode {0})")]
    NotControl(u8),
    #[error("count {count} exceeds the {available} data bytes present")]
    CountTooLarge { count: usize, available: usize },
}

/// A decoded datagram: header, its data, and the authentication trailer if one is there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub header: ControlHeader,
    pub data: &'a [u8],
    pub auth: Option<AuthTrailer<'a>>,
    /// The bytes a MAC covers: header + data padded to 8 (only meaningful with `auth`).
    pub signed: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthTrailer<'a> {
    pub key_id: u32,
    pub mac: &'a [u8],
}

/// Round `n` up to a multiple of `to` (a power of two).
fn round_up(n: usize, to: usize) -> usize {
    (n + to - 1) & !(to - 1)
}

impl<'a> Packet<'a> {
    /// Decode one datagram. Lenient like ntpd/ntpq: extra bytes after the data that do not
    /// look like a key id + MAC are ignored; semantic checks (R/E/M bits, offsets) are the
    /// caller's, because requests and responses need different ones.
    pub fn decode(buf: &'a [u8]) -> Result<Packet<'a>, DecodeError> {
        let head: &[u8; HEADER_LEN] = buf
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(DecodeError::TooShort(buf.len()))?;
        if head[0] & 7 != MODE_CONTROL {
            return Err(DecodeError::NotControl(head[0] & 7));
        }
        let header = ControlHeader::from_bytes(head);
        let count = header.count as usize;
        let available = buf.len() - HEADER_LEN;
        if count > available {
            return Err(DecodeError::CountTooLarge { count, available });
        }
        let data = &buf[HEADER_LEN..HEADER_LEN + count];
        let proper = round_up(HEADER_LEN + count, 8);
        let auth = match buf.len().checked_sub(proper) {
            Some(extra) if (MIN_TRAILER..=MAX_TRAILER).contains(&extra) => Some(AuthTrailer {
                key_id: u32::from_be_bytes([
                    buf[proper],
                    buf[proper + 1],
                    buf[proper + 2],
                    buf[proper + 3],
                ]),
                mac: &buf[proper + 4..],
            }),
            _ => None,
        };
        let signed = &buf[..proper.min(buf.len())];
        Ok(Packet {
            header,
            data,
            auth,
            signed,
        })
    }
}

/// Encode one datagram: header (count set from `data`), data, NUL padding to 4 bytes.
pub fn encode(header: &ControlHeader, data: &[u8]) -> Vec<u8> {
    let mut h = *header;
    h.count = data.len() as u16;
    let mut out = Vec::with_capacity(round_up(HEADER_LEN + data.len(), 4));
    out.extend_from_slice(&h.to_bytes());
    out.extend_from_slice(data);
    out.resize(round_up(out.len(), 4), 0);
    out
}

/// Encode one datagram with an authentication trailer: data padded to 8 bytes, then key
/// id and the MAC that `mac_of` computes over everything before the key id.
pub fn encode_authenticated(
    header: &ControlHeader,
    data: &[u8],
    key_id: u32,
    mac_of: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Vec<u8> {
    let mut out = encode(header, data);
    out.resize(round_up(out.len(), 8), 0);
    let mac = mac_of(&out);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&mac);
    out
}
