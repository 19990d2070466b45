//! The status words of mode 6 and their ntpq text forms: the system status word
//! ([`SystemStatusWord`]), a peer's ([`PeerStatusWord`], with its [`Select`] code and
//! [`peer_flags`]), a clock's ([`ClockStatusWord`]), and READSTAT's association list.

use std::fmt;

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
pub struct SystemStatusWord {
    pub leap: u8,
    pub source: u8,
    pub event_count: u8,
    pub event: u8,
}

impl SystemStatusWord {
    pub fn decode(w: u16) -> SystemStatusWord {
        SystemStatusWord {
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

impl fmt::Display for SystemStatusWord {
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
pub struct PeerStatusWord {
    pub flags: u8,
    pub select: Select,
    pub event_count: u8,
    pub event: u8,
}

impl PeerStatusWord {
    pub fn decode(w: u16) -> PeerStatusWord {
        let hi = (w >> 8) as u8;
        PeerStatusWord {
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

impl fmt::Display for PeerStatusWord {
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
pub struct ClockStatusWord {
    pub event_count: u8,
    pub event: u8,
}

impl ClockStatusWord {
    pub fn decode(w: u16) -> ClockStatusWord {
        ClockStatusWord {
            event_count: ((w >> 4) & 0xf) as u8,
            event: (w & 0xf) as u8,
        }
    }
    pub fn encode(&self) -> u16 {
        (self.event_count.min(15) as u16) << 4 | self.event as u16 & 0xf
    }
}

impl fmt::Display for ClockStatusWord {
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
pub fn decode_assoc_list(data: &[u8]) -> Vec<(u16, PeerStatusWord)> {
    data.chunks_exact(4)
        .map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                PeerStatusWord::decode(u16::from_be_bytes([c[2], c[3]])),
            )
        })
        .collect()
}

pub fn encode_assoc_list(list: &[(u16, PeerStatusWord)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 4);
    for (id, st) in list {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&st.encode().to_be_bytes());
    }
    out
}
