//! Mode 6 (control) messages: the 12-byte header, fragmentation and reassembly, status
//! words and their ntpq text forms, the `name=value` text of READVAR, and the optional
//! authentication trailer. No I/O: the client (`control::client`) and the server
//! responder (`control::server`) sit on top of this.
//!
//! Formats follow ntp.org's `ntp_control.c`/`ntpq.c` (what NTPsec stays compatible with):
//! see REFERENCE.md §2–3.

use std::fmt;

pub const HEADER_LEN: usize = 12;
/// Largest data part of one fragment (`CTL_MAX_DATA_LEN`).
pub const MAX_DATA_LEN: usize = 468;
/// ntpq gives up on responses of more fragments than this (`MAXFRAGS`).
pub const MAX_FRAGMENTS: usize = 32;
/// Text responses break lines before they reach this many columns (`MAXDATALINELEN`).
pub const MAX_LINE_LEN: usize = 72;
/// Bytes after the 8-aligned data that can hold a key id plus MAC (4 + 0..20).
const MIN_TRAILER: usize = 4;
const MAX_TRAILER: usize = 24;
pub const MODE_CONTROL: u8 = 6;

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
pub struct Header {
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

impl Header {
    /// A request header as ntpq sends it (LI 0, no flags, offset 0).
    pub fn request(version: u8, opcode: Opcode, sequence: u16, assoc_id: u16) -> Header {
        Header {
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

    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> Header {
        let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Header {
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
    pub header: Header,
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
        let header = Header::from_bytes(head);
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
pub fn encode(header: &Header, data: &[u8]) -> Vec<u8> {
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
    header: &Header,
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

/// Split a response into datagrams of at most `MAX_DATA_LEN` data bytes each: M set on all
/// but the last, offsets advancing by count. An empty body still makes one datagram.
pub fn fragment(header: &Header, body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    loop {
        let end = (offset + MAX_DATA_LEN).min(body.len());
        let mut h = *header;
        h.offset = offset as u16;
        h.more = end < body.len();
        out.push(encode(&h, &body[offset..end]));
        offset = end;
        if offset >= body.len() {
            return out;
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("server error {}", .0 .0)]
    Server(ErrorCode, u16),
    #[error("response has more than {MAX_FRAGMENTS} fragments")]
    TooManyFragments,
    #[error("fragments overlap or disagree about the end of the response")]
    Inconsistent,
}

/// What a datagram meant to the reassembler.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Not a response to our request (wrong sequence/opcode/mode, or a request): ignore it,
    /// as ntpq does, and keep waiting.
    Ignored,
    /// A fragment we already had.
    Duplicate,
    /// Stored; more are needed.
    Partial,
    /// Every byte from 0 to the end of the last fragment is here.
    Complete(Response),
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub header: Header,
    pub data: Vec<u8>,
}

/// Collects the fragments of one response in any order, ignoring duplicates, refusing
/// overlaps; complete only once the fragment without M has arrived and no gap remains.
#[derive(Debug)]
pub struct Reassembler {
    sequence: u16,
    opcode: Opcode,
    /// (offset, data) sorted by offset.
    fragments: Vec<(usize, Vec<u8>)>,
    end: Option<usize>,
    first: Option<Header>,
}

impl Reassembler {
    pub fn new(sequence: u16, opcode: Opcode) -> Reassembler {
        Reassembler {
            sequence,
            opcode,
            fragments: Vec::new(),
            end: None,
            first: None,
        }
    }

    /// Whether any fragment arrived (ntpq then waits the shorter timeout for the rest).
    pub fn started(&self) -> bool {
        !self.fragments.is_empty()
    }

    pub fn accept(&mut self, datagram: &[u8]) -> Result<Accepted, ReassemblyError> {
        let Ok(p) = Packet::decode(datagram) else {
            return Ok(Accepted::Ignored);
        };
        let h = p.header;
        if !h.response || h.sequence != self.sequence || h.opcode != self.opcode {
            return Ok(Accepted::Ignored);
        }
        if h.error {
            return Err(ReassemblyError::Server(h.error_code(), h.assoc_id));
        }
        let offset = h.offset as usize;
        let end = offset + p.data.len();
        if let Some(known_end) = self.end {
            if end > known_end || (!h.more && end != known_end) {
                return Err(ReassemblyError::Inconsistent);
            }
        }
        let idx = self.fragments.partition_point(|(o, _)| *o < offset);
        if let Some((o, d)) = self.fragments.get(idx) {
            if *o == offset {
                return if d.as_slice() == p.data {
                    Ok(Accepted::Duplicate)
                } else {
                    Err(ReassemblyError::Inconsistent)
                };
            }
            if *o < end {
                return Err(ReassemblyError::Inconsistent);
            }
        }
        if idx > 0 {
            let (po, pd) = &self.fragments[idx - 1];
            if po + pd.len() > offset {
                return Err(ReassemblyError::Inconsistent);
            }
        }
        if !h.more {
            if self
                .fragments
                .last()
                .is_some_and(|(o, d)| o + d.len() > end)
            {
                return Err(ReassemblyError::Inconsistent);
            }
            self.end = Some(end);
        }
        if self.fragments.len() >= MAX_FRAGMENTS {
            return Err(ReassemblyError::TooManyFragments);
        }
        self.fragments.insert(idx, (offset, p.data.to_vec()));
        if offset == 0 || self.first.is_none() {
            self.first = Some(h);
        }
        let Some(end) = self.end else {
            return Ok(Accepted::Partial);
        };
        let mut next = 0;
        for (o, d) in &self.fragments {
            if *o != next {
                return Ok(Accepted::Partial);
            }
            next += d.len();
        }
        if next != end {
            return Ok(Accepted::Partial);
        }
        let mut data = Vec::with_capacity(end);
        for (_, d) in self.fragments.drain(..) {
            data.extend_from_slice(&d);
        }
        let mut header = self.first.unwrap_or(h);
        header.more = false;
        header.offset = 0;
        header.count = data.len().min(u16::MAX as usize) as u16;
        Ok(Accepted::Complete(Response { header, data }))
    }
}

// ---------------------------------------------------------------------------------------
// Status words

/// Text of table entry `n`, or `<prefix>_<n>` like ntp.org's `getcode` for unknown codes.
fn code_name(table: &[&str], prefix: &str, n: usize) -> String {
    table
        .get(n)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("{prefix}_{n}"))
}

pub const LEAP_NAMES: [&str; 4] = ["leap_none", "leap_add_sec", "leap_del_sec", "leap_alarm"];
pub const SOURCE_NAMES: [&str; 10] = [
    "sync_unspec",
    "sync_pps",
    "sync_lf_radio",
    "sync_hf_radio",
    "sync_uhf_radio",
    "sync_local",
    "sync_ntp",
    "sync_other",
    "sync_wristwatch",
    "sync_telephone",
];
pub const SYSTEM_EVENT_NAMES: [&str; 16] = [
    "unspecified",
    "freq_not_set",
    "freq_set",
    "spike_detect",
    "freq_mode",
    "clock_sync",
    "restart",
    "panic_stop",
    "no_sys_peer",
    "leap_armed",
    "leap_disarmed",
    "leap_event",
    "clock_step",
    "kern",
    "TAI",
    "stale_leapsecond_values",
];
pub const PEER_EVENT_NAMES: [&str; 16] = [
    "unspecified",
    "mobilize",
    "demobilize",
    "unreachable",
    "reachable",
    "restart",
    "no_reply",
    "rate_exceeded",
    "access_denied",
    "leap_armed",
    "sys_peer",
    "clock_event",
    "bad_auth",
    "popcorn",
    "interleave_mode",
    "interleave_error",
];
pub const CLOCK_EVENT_NAMES: [&str; 7] = [
    "clk_unspec",
    "clk_no_reply",
    "clk_bad_format",
    "clk_fault",
    "clk_bad_signal",
    "clk_bad_date",
    "clk_bad_time",
];
pub const SELECT_NAMES: [&str; 8] = [
    "sel_reject",
    "sel_falsetick",
    "sel_excess",
    "sel_outlier",
    "sel_candidate",
    "sel_backup",
    "sel_sys.peer",
    "sel_pps.peer",
];

fn events_text(count: u8) -> String {
    match count {
        0 => "no events".into(),
        1 => "1 event".into(),
        n => format!("{n} events"),
    }
}

/// System status word: `LI(2) | source(6) | event count(4) | last event(4)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SystemStatus {
    pub leap: u8,
    pub source: u8,
    pub event_count: u8,
    pub event: u8,
}

impl SystemStatus {
    pub fn decode(w: u16) -> SystemStatus {
        SystemStatus {
            leap: (w >> 14) as u8,
            source: ((w >> 8) & 0x3f) as u8,
            event_count: ((w >> 4) & 0xf) as u8,
            event: (w & 0xf) as u8,
        }
    }

    pub fn encode(&self) -> u16 {
        (self.leap as u16 & 3) << 14
            | (self.source as u16 & 0x3f) << 8
            | (self.event_count.min(15) as u16) << 4
            | self.event as u16 & 0xf
    }
}

impl fmt::Display for SystemStatus {
    /// `leap_none, sync_ntp, 1 event, clock_sync`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}, {}, {}",
            code_name(&LEAP_NAMES, "leap", self.leap as usize),
            code_name(&SOURCE_NAMES, "sync", self.source as usize),
            events_text(self.event_count),
            code_name(&SYSTEM_EVENT_NAMES, "event", self.event as usize)
        )
    }
}

/// Peer status flag bits (high byte, above the select code).
pub mod peer_flags {
    pub const CONFIG: u8 = 0x80;
    pub const AUTHENABLE: u8 = 0x40;
    pub const AUTHENTIC: u8 = 0x20;
    pub const REACH: u8 = 0x10;
    pub const BCAST: u8 = 0x08;
}

/// The select code of a peer status word (its low 3 bits of the high byte): what the
/// selection algorithms made of an association, ntpq's tally character. The engine's
/// selection produces these (`engine::select::Outcome` is this type).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Select {
    /// ' ' failed a sanity check (`engine::select::RejectReason`).
    #[default]
    Reject = 0,
    /// 'x' outside the intersection of the majority.
    Falsetick = 1,
    /// '.' a truechimer beyond `maxclock` (table overflow).
    Excess = 2,
    /// '-' discarded by the cluster algorithm.
    Outlier = 3,
    /// '+' a survivor, used by the combine algorithm.
    Candidate = 4,
    /// '#' a survivor beyond `max_combine`, kept in reserve.
    Backup = 5,
    /// '*' the system peer.
    SysPeer = 6,
    /// 'o' the PPS peer (not chosen by the engine; reserved for the code).
    PpsPeer = 7,
}

impl Select {
    pub fn from_bits(b: u8) -> Select {
        match b & 7 {
            0 => Select::Reject,
            1 => Select::Falsetick,
            2 => Select::Excess,
            3 => Select::Outlier,
            4 => Select::Candidate,
            5 => Select::Backup,
            6 => Select::SysPeer,
            _ => Select::PpsPeer,
        }
    }

    /// The 3-bit select field of the peer status word.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The tally character of the peers table.
    pub fn tally(self) -> char {
        b" x.-+#*o"[self as usize] as char
    }

    /// ntpq's `sel_*` name.
    pub fn name(self) -> &'static str {
        SELECT_NAMES[self as usize]
    }

    /// The `condition` column of `associations`.
    pub fn condition(self) -> &'static str {
        &SELECT_NAMES[self as usize][4..]
    }
}

/// Peer status word: flags(5) + select(3) | event count(4) | last event(4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub flags: u8,
    pub select: Select,
    pub event_count: u8,
    pub event: u8,
}

impl PeerStatus {
    pub fn decode(w: u16) -> PeerStatus {
        let hi = (w >> 8) as u8;
        PeerStatus {
            flags: hi & 0xf8,
            select: Select::from_bits(hi),
            event_count: ((w >> 4) & 0xf) as u8,
            event: (w & 0xf) as u8,
        }
    }

    pub fn encode(&self) -> u16 {
        (((self.flags & 0xf8) | self.select as u8) as u16) << 8
            | ((self.event_count.min(15) as u16) << 4)
            | self.event as u16 & 0xf
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// The tally code a peers table shows for this status.
    pub fn tally(&self) -> char {
        self.select.tally()
    }
}

impl fmt::Display for PeerStatus {
    /// `conf, reach, sel_sys.peer, 1 event, sys_peer`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use peer_flags::*;
        for (bit, name) in [
            (CONFIG, "conf"),
            (AUTHENABLE, "authenb"),
            (AUTHENTIC, "auth"),
            (REACH, "reach"),
            (BCAST, "bcast"),
        ] {
            if self.flags & bit != 0 {
                write!(f, "{name}, ")?;
            }
        }
        write!(
            f,
            "{}, {}",
            SELECT_NAMES[self.select as usize],
            events_text(self.event_count)
        )?;
        if self.event != 0 {
            write!(
                f,
                ", {}",
                code_name(&PEER_EVENT_NAMES, "peer", self.event as usize)
            )?;
        }
        Ok(())
    }
}

/// Clock (refclock) status word: high byte unused, then event count and last event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClockStatus {
    pub event_count: u8,
    pub event: u8,
}

impl ClockStatus {
    pub fn decode(w: u16) -> ClockStatus {
        ClockStatus {
            event_count: ((w >> 4) & 0xf) as u8,
            event: (w & 0xf) as u8,
        }
    }
    pub fn encode(&self) -> u16 {
        (self.event_count.min(15) as u16) << 4 | self.event as u16 & 0xf
    }
}

impl fmt::Display for ClockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, last_{}",
            events_text(self.event_count),
            code_name(&CLOCK_EVENT_NAMES, "clk", self.event as usize)
        )
    }
}

/// READSTAT on association 0: (association id, peer status) pairs.
pub fn decode_assoc_list(data: &[u8]) -> Vec<(u16, PeerStatus)> {
    data.chunks_exact(4)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                PeerStatus::decode(u16::from_be_bytes([c[2], c[3]])),
            )
        })
        .collect()
}

pub fn encode_assoc_list(list: &[(u16, PeerStatus)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 4);
    for (id, st) in list {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&st.encode().to_be_bytes());
    }
    out
}

// ---------------------------------------------------------------------------------------
// `name=value` text

/// A variable's value as the daemon wrote it (quotes kept, as ntpq keeps them), decoded
/// lossily: NTPsec has been seen to send non-UTF-8 bytes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Value(pub String);

impl Value {
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The value with surrounding double quotes removed.
    pub fn text(&self) -> &str {
        let s = self.0.as_str();
        s.strip_prefix('"')
            .map(|r| r.strip_suffix('"').unwrap_or(r))
            .unwrap_or(s)
    }

    pub fn is_quoted(&self) -> bool {
        self.0.starts_with('"')
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.text()
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
    }

    /// Decimal, or hex with `0x`.
    pub fn as_i64(&self) -> Option<i64> {
        let s = self.text().trim();
        match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            Some(h) => i64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        }
    }

    pub fn as_timestamp(&self) -> Option<crate::time::NtpTimestamp> {
        crate::time::NtpTimestamp::parse_hex(self.text())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decoded variable list, in the daemon's order.
pub type VarList = Vec<(String, Value)>;

/// Look a variable up by name in a decoded list.
pub fn lookup<'a>(vars: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// Parse READVAR/READ_MRU text the way ntpq's `nextvar` does: items separated by commas
/// (and CR/LF), `name` or `name=value`, a quoted value running to its closing quote
/// (commas inside kept), trailing blanks trimmed. Trailing NULs (padding) are dropped.
pub fn decode_vars(data: &[u8]) -> VarList {
    let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let data = &data[..end];
    let mut out = Vec::new();
    let mut i = 0;
    let is_sep = |b: u8| b == b',' || b.is_ascii_whitespace();
    while i < data.len() {
        while i < data.len() && is_sep(data[i]) {
            i += 1;
        }
        if i >= data.len() {
            break;
        }
        let start = i;
        while i < data.len() && data[i] != b'=' && data[i] != b',' && data[i] != b'\r' {
            i += 1;
        }
        let name = String::from_utf8_lossy(&data[start..i]).trim().to_string();
        let mut value = Vec::new();
        if i < data.len() && data[i] == b'=' {
            i += 1;
            while i < data.len() && data[i] == b' ' {
                i += 1;
            }
            let vstart = i;
            if i < data.len() && data[i] == b'"' {
                i += 1;
                while i < data.len() && data[i] != b'"' {
                    i += 1;
                }
                if i < data.len() {
                    i += 1;
                }
            } else {
                while i < data.len() && data[i] != b',' && data[i] != b'\r' {
                    i += 1;
                }
            }
            value.extend_from_slice(&data[vstart..i]);
            while value.last().is_some_and(|b| b.is_ascii_whitespace()) {
                value.pop();
            }
        }
        if !name.is_empty() {
            out.push((name, Value(String::from_utf8_lossy(&value).into_owned())));
        }
    }
    out
}

/// Builds the text of a response the way ntpd's `ctl_putdata` does: items separated by
/// `", "`, or `",\r\n"` when the line would reach 72 columns; `finish` appends the final
/// `"\r\n"`.
#[derive(Default, Debug, Clone)]
pub struct TextBuilder {
    out: Vec<u8>,
    line_len: usize,
}

impl TextBuilder {
    pub fn new() -> TextBuilder {
        TextBuilder::default()
    }

    /// Append one preformatted item (`name=value` or bare `name`).
    pub fn item(&mut self, item: &[u8]) -> &mut Self {
        if !self.out.is_empty() {
            self.out.push(b',');
            self.line_len += 1;
            if item.len() + self.line_len + 1 >= MAX_LINE_LEN {
                self.out.extend_from_slice(b"\r\n");
                self.line_len = 0;
            } else {
                self.out.push(b' ');
                self.line_len += 1;
            }
        }
        self.out.extend_from_slice(item);
        self.line_len += item.len();
        self
    }

    /// `name=value` with the value as is (numbers, addresses, hex).
    pub fn raw(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.item(format!("{name}={value}").as_bytes())
    }

    /// `name="value"`.
    pub fn quoted(&mut self, name: &str, value: &str) -> &mut Self {
        self.item(format!("{name}=\"{value}\"").as_bytes())
    }

    /// Milliseconds with ntp.org's three decimals.
    pub fn ms3(&mut self, name: &str, ms: f64) -> &mut Self {
        self.raw(name, format_args!("{ms:.3}"))
    }

    /// Milliseconds with six decimals (offset, sys_jitter).
    pub fn ms6(&mut self, name: &str, ms: f64) -> &mut Self {
        self.raw(name, format_args!("{ms:.6}"))
    }

    /// `0x%08x.%08x`.
    pub fn timestamp(&mut self, name: &str, t: crate::time::NtpTimestamp) -> &mut Self {
        self.raw(name, t.to_hex_string())
    }

    /// `0x%x`.
    pub fn hex(&mut self, name: &str, v: u64) -> &mut Self {
        self.raw(name, format_args!("{v:#x}"))
    }

    /// Eight `" %.2f"` values (filtdelay and friends).
    pub fn array2(&mut self, name: &str, values: &[f64]) -> &mut Self {
        let mut s = format!("{name}=");
        for v in values {
            s.push_str(&format!(" {v:.2}"));
        }
        self.item(s.as_bytes())
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// The finished text with its final CRLF (none when empty, as ntpd sends nothing).
    pub fn finish(mut self) -> Vec<u8> {
        if !self.out.is_empty() {
            self.out.extend_from_slice(b"\r\n");
        }
        self.out
    }
}

/// The request text for READVAR with names (`name1,name2`, as ntpq's `makequerydata`) or
/// WRITEVAR/READ_MRU assignments.
pub fn encode_request_vars<S: AsRef<str>>(items: &[S]) -> Vec<u8> {
    items
        .iter()
        .map(|s| s.as_ref())
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

/// Names requested in a READVAR/WRITEVAR payload: `(name, Some(value))` for assignments.
pub fn decode_request_vars(data: &[u8]) -> Vec<(String, Option<String>)> {
    let had_eq = |d: &[u8], name: &str| {
        // `decode_vars` loses the difference between `name` and `name=`.
        let needle = format!("{name}=");
        d.windows(needle.len()).any(|w| w == needle.as_bytes())
    };
    decode_vars(data)
        .into_iter()
        .map(|(n, v)| {
            if v.0.is_empty() && !had_eq(data, &n) {
                (n, None)
            } else {
                let text = v.text().to_string();
                (n, Some(text))
            }
        })
        .collect()
}

/// A recorded NTPsec session for tests here and in the `ntpkit` crate's mode 6 client and
/// server (a crate's `#[cfg(test)]` items are invisible to other crates' tests). The data
/// is linked only into what calls it.
#[doc(hidden)]
pub mod test_support {
    /// (frame, source port, destination port, payload) of a real NTPsec ntpq/ntpd session.
    pub fn ntpsec_capture() -> Vec<(u32, u16, u16, Vec<u8>)> {
        include_str!("testdata/ntpsec-1.2.2-mode6.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let hex = f[3];
                let bytes = (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect();
                (
                    f[0].parse().unwrap(),
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    bytes,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::ntpsec_capture;
    use super::*;
    use proptest::prelude::*;

    fn response_header(seq: u16) -> Header {
        let mut h = Header::request(2, Opcode::READVAR, seq, 0);
        h.response = true;
        h.status = 0x0615;
        h
    }

    #[test]
    fn header_round_trips_and_matches_ntpq_request_bytes() {
        // ntpq's first READSTAT: VN 2, mode 6, opcode 1, sequence 1.
        let h = Header::request(2, Opcode::READSTAT, 1, 0);
        let bytes = encode(&h, &[]);
        assert_eq!(bytes, [0x16, 0x01, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::decode(&bytes).unwrap();
        assert_eq!(p.header, h);
        assert!(p.auth.is_none());
    }

    #[test]
    fn status_words_print_as_ntpq_does() {
        assert_eq!(
            SystemStatus::decode(0x0615).to_string(),
            "leap_none, sync_ntp, 1 event, clock_sync"
        );
        assert_eq!(SystemStatus::decode(0x0615).encode(), 0x0615);
        let p = PeerStatus::decode(0x961a);
        assert_eq!(
            p.to_string(),
            "conf, reach, sel_sys.peer, 1 event, sys_peer"
        );
        assert_eq!(p.tally(), '*');
        assert_eq!(p.encode(), 0x961a);
        assert_eq!(PeerStatus::decode(0x9014).select.condition(), "reject");
        assert_eq!(
            SystemStatus::decode(0xc000).to_string(),
            "leap_alarm, sync_unspec, no events, unspecified"
        );
    }

    #[test]
    fn text_builder_wraps_before_72_columns() {
        let mut b = TextBuilder::new();
        for i in 0..12 {
            b.raw(&format!("variable{i}"), 12345);
        }
        let text = b.finish();
        let s = String::from_utf8(text.clone()).unwrap();
        assert!(s.ends_with("\r\n"));
        for line in s.split("\r\n") {
            assert!(line.len() < MAX_LINE_LEN, "{line:?}");
        }
        let vars = decode_vars(&text);
        assert_eq!(vars.len(), 12);
        assert_eq!(vars[11], ("variable11".into(), Value("12345".into())));
    }

    #[test]
    fn decoder_keeps_quotes_commas_and_survives_garbage() {
        let data =
            b"version=\"ntpd 4.2.8p15, yes\", leap=00,\r\nfiltdelay= 0.51 \xff\xfe 0.52,flag\0\0";
        let v = decode_vars(data);
        assert_eq!(v[0].0, "version");
        assert_eq!(v[0].1.text(), "ntpd 4.2.8p15, yes");
        assert_eq!(v[1], ("leap".into(), Value("00".into())));
        assert_eq!(v[2].0, "filtdelay");
        assert!(v[2].1.raw().starts_with("0.51 "));
        assert_eq!(v[3], ("flag".into(), Value::default()));
    }

    #[test]
    fn authenticated_packet_trailer_is_found() {
        let h = Header::request(2, Opcode::WRITEVAR, 7, 0);
        let pkt = encode_authenticated(&h, b"leap=0", 1, |_| vec![0xaa; 16]);
        assert_eq!(pkt.len(), 24 + 4 + 16);
        let p = Packet::decode(&pkt).unwrap();
        let a = p.auth.unwrap();
        assert_eq!(a.key_id, 1);
        assert_eq!(a.mac, &[0xaa; 16]);
        assert_eq!(p.signed.len(), 24);
        assert_eq!(p.data, b"leap=0");
    }

    #[test]
    fn server_error_reply_is_reported() {
        let mut h = response_header(3);
        h.error = true;
        h.status = (ErrorCode::UNKNOWNVAR.0 as u16) << 8;
        let mut r = Reassembler::new(3, Opcode::READVAR);
        assert_eq!(
            r.accept(&encode(&h, &[])),
            Err(ReassemblyError::Server(ErrorCode::UNKNOWNVAR, 0))
        );
    }

    #[test]
    fn missing_fragment_keeps_waiting() {
        let body: Vec<u8> = (0..1200u32).map(|i| (i % 251) as u8).collect();
        let frags = fragment(&response_header(9), &body);
        assert_eq!(frags.len(), 3);
        let mut r = Reassembler::new(9, Opcode::READVAR);
        assert_eq!(r.accept(&frags[2]), Ok(Accepted::Partial));
        assert_eq!(r.accept(&frags[0]), Ok(Accepted::Partial));
        assert_eq!(r.accept(&frags[0]), Ok(Accepted::Duplicate));
        // someone else's sequence number is not ours
        let other = fragment(&response_header(10), &body);
        assert_eq!(r.accept(&other[1]), Ok(Accepted::Ignored));
        match r.accept(&frags[1]) {
            Ok(Accepted::Complete(resp)) => assert_eq!(resp.data, body),
            other => panic!("{other:?}"),
        }
    }

    fn frame(n: u32) -> Vec<u8> {
        ntpsec_capture().into_iter().find(|f| f.0 == n).unwrap().3
    }

    #[test]
    fn ntpsec_capture_decodes() {
        // frame 1: NTPsec's ntpq READSTAT (it sets LI=3 in requests), 2: the assoc list
        let f1 = frame(1);
        let req = Packet::decode(&f1).unwrap();
        assert_eq!(req.header.opcode, Opcode::READSTAT);
        assert_eq!(req.header.version, 2);
        let mut r = Reassembler::new(1, Opcode::READSTAT);
        let Ok(Accepted::Complete(list)) = r.accept(&frame(2)) else {
            panic!()
        };
        assert_eq!(
            SystemStatus::decode(list.header.status).to_string(),
            "leap_none, sync_unspec, 1 event, freq_mode"
        );
        let assocs = decode_assoc_list(&list.data);
        assert_eq!(assocs.len(), 1);
        assert_eq!(assocs[0].0, 17767);
        assert_eq!(assocs[0].1.tally(), '*');
        // frames 4+5: peer variables in two fragments, with NTPsec's garbage bytes in
        // filtdelay; delivered in reverse order
        let mut r = Reassembler::new(2, Opcode::READVAR);
        assert_eq!(r.accept(&frame(5)), Ok(Accepted::Partial));
        let Ok(Accepted::Complete(peer)) = r.accept(&frame(4)) else {
            panic!()
        };
        let vars = decode_vars(&peer.data);
        assert_eq!(lookup(&vars, "srcadr").unwrap().raw(), "198.18.0.1");
        assert_eq!(lookup(&vars, "stratum").unwrap().as_i64(), Some(5));
        assert_eq!(lookup(&vars, "reach").unwrap().as_i64(), Some(0xf));
        assert!(lookup(&vars, "filtdelay").is_some());
        assert_eq!(lookup(&vars, "pmode").unwrap().as_i64(), Some(4));
        assert_eq!(
            PeerStatus::decode(peer.header.status).to_string(),
            "conf, auth, reach, sel_sys.peer, 1 event, sys_peer"
        );
        // frame 43: padding after count is not zeroed by NTPsec; only count bytes count
        let mut r = Reassembler::new(1, Opcode::READVAR);
        let Ok(Accepted::Complete(ss)) = r.accept(&frame(43)) else {
            panic!()
        };
        let vars = decode_vars(&ss.data);
        assert_eq!(lookup(&vars, "ss_numctlreq").unwrap().as_i64(), Some(19));
        // every datagram of the session decodes
        for (n, _, _, bytes) in ntpsec_capture() {
            Packet::decode(&bytes).unwrap_or_else(|e| panic!("frame {n}: {e}"));
        }
    }

    proptest! {
        #[test]
        fn fragments_reassemble_in_any_order_with_duplicates(
            body in proptest::collection::vec(any::<u8>(), 0..4000),
            order_seed in any::<u64>(),
            dup in any::<bool>(),
        ) {
            let frags = fragment(&response_header(42), &body);
            for f in &frags {
                let p = Packet::decode(f).unwrap();
                prop_assert!(p.data.len() <= MAX_DATA_LEN);
                prop_assert_eq!(f.len() % 4, 0);
            }
            let mut order: Vec<usize> = (0..frags.len()).collect();
            let mut s = order_seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            if dup && order.len() > 1 {
                order.insert(1, order[0]);
            }
            let mut r = Reassembler::new(42, Opcode::READVAR);
            let mut done = None;
            for (k, &i) in order.iter().enumerate() {
                match r.accept(&frags[i]).unwrap() {
                    Accepted::Complete(resp) => { prop_assert_eq!(k, order.len() - 1); done = Some(resp) }
                    Accepted::Partial | Accepted::Duplicate => {}
                    Accepted::Ignored => prop_assert!(false, "ignored"),
                }
            }
            let resp = done.expect("complete");
            prop_assert_eq!(resp.data, body);
            prop_assert_eq!(resp.header.status, 0x0615);
        }

        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Packet::decode(&bytes);
            let _ = decode_vars(&bytes);
            let _ = decode_request_vars(&bytes);
            let _ = Reassembler::new(1, Opcode::READVAR).accept(&bytes);
        }

        #[test]
        fn text_round_trips(values in proptest::collection::vec((0u32..1_000_000, -1e6f64..1e6), 1..40)) {
            let mut b = TextBuilder::new();
            for (i, (u, f)) in values.iter().enumerate() {
                b.raw(&format!("u{i}"), u);
                b.ms3(&format!("f{i}"), *f);
            }
            let vars = decode_vars(&b.finish());
            prop_assert_eq!(vars.len(), values.len() * 2);
            for (i, (u, f)) in values.iter().enumerate() {
                prop_assert_eq!(vars[2 * i].1.as_i64(), Some(*u as i64));
                prop_assert!((vars[2 * i + 1].1.as_f64().unwrap() - f).abs() <= 0.0005 + 1e-9);
            }
        }
    }
}
