//! The daemon side of mode 6, sans-I/O: `Responder::respond` turns one request datagram
//! into the datagrams to send back (none = drop), reading the daemon through the
//! `ControlState` trait. The daemon owns the socket, the clock and the randomness.
//!
//! Behaviour follows ntp.org's `process_control` (REFERENCE.md §2.3): malformed or
//! response-flagged packets are dropped silently, format problems get BADFMT, writes need
//! a MAC by the `controlkey`, `noquery` drops everything, MRU needs a fresh nonce.

use crate::config::RestrictFlags;
use crate::wire::auth::KeyStore;
use crate::wire::control::{
    self, encode_assoc_list, ClockStatusWord as ClockStatus, ControlHeader as Header, ErrorCode,
    Opcode, Packet, PeerStatusWord as PeerStatus, SystemStatusWord as SystemStatus, TextBuilder,
};
use crate::wire::time::NtpTimestamp;
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// How long a nonce from REQ_NONCE stays valid (NTPsec: 16 s).
pub const NONCE_LIFETIME_SECS: u32 = 16;
/// ntp.org's caps on one MRU reply.
pub const MRU_ROW_LIMIT: usize = 256;
pub const MRU_FRAGS_LIMIT: usize = 128;

/// A variable's value, formatted the way ntp.org's `ctl_put*` does.
#[derive(Clone, Debug, PartialEq)]
pub enum VarValue {
    /// `%ld`
    Int(i64),
    /// `0x%x`
    Hex(u64),
    /// milliseconds `%.3f` (delay, rootdelay, …)
    Ms3(f64),
    /// milliseconds `%.6f` (system offset, sys_jitter)
    Ms6(f64),
    /// `%.3f` of any other unit (ppm)
    Fixed3(f64),
    /// `0x%08x.%08x`
    Timestamp(NtpTimestamp),
    /// `"text"`
    Quoted(String),
    /// unquoted text: addresses, refids
    Text(String),
    /// eight `" %.2f"` ms values
    Array2(Vec<f64>),
}

/// One variable. `default`: part of the list READVAR returns when no names are given.
#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    pub name: Cow<'static, str>,
    pub value: VarValue,
    pub default: bool,
}

impl Var {
    pub fn new(name: &'static str, value: VarValue) -> Var {
        Var {
            name: Cow::Borrowed(name),
            value,
            default: true,
        }
    }

    /// Returned only when asked for by name.
    pub fn extra(name: &'static str, value: VarValue) -> Var {
        Var {
            default: false,
            ..Var::new(name, value)
        }
    }

    fn put(&self, out: &mut TextBuilder) {
        let n = self.name.as_ref();
        match &self.value {
            VarValue::Int(v) => out.raw(n, v),
            VarValue::Hex(v) => out.hex(n, *v),
            VarValue::Ms3(v) | VarValue::Fixed3(v) => out.ms3(n, *v),
            VarValue::Ms6(v) => out.ms6(n, *v),
            VarValue::Timestamp(t) => out.timestamp(n, *t),
            VarValue::Quoted(s) => out.quoted(n, &sanitize(s)),
            VarValue::Text(s) => out.raw(n, sanitize(s)),
            VarValue::Array2(v) => out.array2(n, v),
        };
    }
}

/// Keep what we emit parseable: no quotes, commas or control characters inside values.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '"' || c == ',' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// One row of the MRU (monitoring) list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MruRow {
    pub addr: SocketAddr,
    pub first: NtpTimestamp,
    pub last: NtpTimestamp,
    pub count: u64,
    pub mode: u8,
    pub version: u8,
    pub restrict: u32,
}

/// What the daemon exposes over mode 6. Variable lists are in ntpd's default order
/// (REFERENCE.md §3.2/§3.3; `SystemVars`/`PeerVars` build them).
pub trait ControlState {
    /// The daemon's notion of now (nonces, MRU `now=`).
    fn now(&self) -> NtpTimestamp;
    fn system_status(&self) -> SystemStatus;
    /// Every system variable, default ones flagged.
    fn system_vars(&self) -> Vec<Var>;
    /// (association id, peer status), in any order.
    fn associations(&self) -> Vec<(u16, PeerStatus)>;
    /// An association's status and variables; `None` if there is no such association.
    fn peer_vars(&self, assoc: u16) -> Option<(PeerStatus, Vec<Var>)>;
    /// A refclock's status and variables (assoc 0: the system peer's, if a refclock).
    fn clock_vars(&self, _assoc: u16) -> Option<(ClockStatus, Vec<Var>)> {
        None
    }
    /// The MRU list, any order.
    fn mru(&self) -> Vec<MruRow> {
        Vec::new()
    }
    /// WRITEVAR of one variable, already authorised. ntpkit has nothing writable by
    /// default, as NTPsec.
    fn write_var(&self, _assoc: u16, _name: &str, _value: &str) -> Result<(), ErrorCode> {
        Err(ErrorCode::PERMISSION)
    }
}

/// System variables in ntp.org's default order, for `ControlState::system_vars`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemVars {
    pub version: String,
    pub processor: String,
    pub system: String,
    pub leap: u8,
    pub stratum: u8,
    pub precision: i8,
    pub rootdelay_ms: f64,
    pub rootdisp_ms: f64,
    /// Rendered refid (dotted quad or code).
    pub refid: String,
    pub reftime: NtpTimestamp,
    pub clock: NtpTimestamp,
    /// System peer association id (0 none).
    pub peer: u16,
    pub tc: i8,
    pub mintc: i8,
    pub offset_ms: f64,
    pub frequency_ppm: f64,
    pub sys_jitter_ms: f64,
    pub clk_jitter_ms: f64,
    pub clk_wander_ppm: f64,
    pub tai: i32,
    /// The leapfile's last leap and its expiry, NTP seconds (None without a leapfile).
    pub leapsec: Option<i64>,
    pub expire: Option<i64>,
    /// System peer address (`peeradr`, non-default) and its host mode.
    pub peer_addr: Option<SocketAddr>,
    pub peer_mode: u8,
}

impl SystemVars {
    pub fn to_vars(&self) -> Vec<Var> {
        use VarValue::*;
        let mut v = vec![
            Var::new("version", Quoted(self.version.clone())),
            Var::new("processor", Quoted(self.processor.clone())),
            Var::new("system", Quoted(self.system.clone())),
            Var::new("leap", Int(self.leap as i64)),
            Var::new("stratum", Int(self.stratum as i64)),
            Var::new("precision", Int(self.precision as i64)),
            Var::new("rootdelay", Ms3(self.rootdelay_ms)),
            Var::new("rootdisp", Ms3(self.rootdisp_ms)),
            Var::new("refid", Text(self.refid.clone())),
            Var::new("reftime", Timestamp(self.reftime)),
            Var::new("clock", Timestamp(self.clock)),
            Var::new("peer", Int(self.peer as i64)),
            Var::new("tc", Int(self.tc as i64)),
            Var::new("mintc", Int(self.mintc as i64)),
            Var::new("offset", Ms6(self.offset_ms)),
            Var::new("frequency", Fixed3(self.frequency_ppm)),
            Var::new("sys_jitter", Ms6(self.sys_jitter_ms)),
            Var::new("clk_jitter", Ms3(self.clk_jitter_ms)),
            Var::new("clk_wander", Fixed3(self.clk_wander_ppm)),
        ];
        if self.tai > 0 {
            v.push(Var::new("tai", Int(self.tai as i64)));
        }
        if let Some(t) = self.leapsec {
            v.push(Var::new("leapsec", Text(leap_date(t))));
        }
        if let Some(t) = self.expire {
            v.push(Var::new("expire", Text(leap_date(t))));
        }
        if let Some(a) = self.peer_addr {
            v.push(Var::extra("peeradr", Text(a.to_string())));
            v.push(Var::extra("peermode", Int(self.peer_mode as i64)));
        }
        v.push(Var::extra(
            "rootdist",
            Ms3(self.rootdelay_ms / 2.0 + self.rootdisp_ms),
        ));
        v.push(Var::extra("authdelay", Ms3(0.0)));
        v
    }
}

/// A leapfile date as NTPsec's ntpd sends `leapsec` and `expire`: `2017-01-01T00:00Z`
/// (ntp.org sends `201701010000`; ntpkit speaks NTPsec's dialect).
fn leap_date(ntp_seconds: i64) -> String {
    // saturating: the value comes from a leapfile, which may say anything
    let unix = ntp_seconds.saturating_sub(crate::wire::time::UNIX_NTP_OFFSET as i64);
    let (y, m, d) = crate::wire::time::civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Peer variables in ntp.org's default order, for `ControlState::peer_vars`.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerVars {
    pub srcadr: SocketAddr,
    pub dstadr: SocketAddr,
    /// Pool/DNS name (ntp.org sends it for pool associations only).
    pub srchost: Option<String>,
    pub leap: u8,
    pub stratum: u8,
    pub precision: i8,
    pub rootdelay_ms: f64,
    pub rootdisp_ms: f64,
    pub refid: String,
    pub reftime: NtpTimestamp,
    pub rec: NtpTimestamp,
    pub reach: u8,
    pub unreach: u32,
    pub hmode: u8,
    pub pmode: u8,
    pub hpoll: i8,
    pub ppoll: i8,
    pub headway: u32,
    pub flash: u32,
    pub keyid: u32,
    pub offset_ms: f64,
    pub delay_ms: f64,
    pub dispersion_ms: f64,
    pub jitter_ms: f64,
    /// Newest first, 8 values each.
    pub filtdelay_ms: Vec<f64>,
    pub filtoffset_ms: Vec<f64>,
    pub filtdisp_ms: Vec<f64>,
    /// NTS associations: cookies held (NTPsec sends it only for them).
    pub ntscookies: Option<u32>,
    /// `server … xleave`: how many samples were taken in interleaved mode (RFC 9769).
    pub xleave: Option<u64>,
}

impl PeerVars {
    pub fn to_vars(&self) -> Vec<Var> {
        use VarValue::*;
        let mut v = vec![
            Var::new("srcadr", Text(self.srcadr.ip().to_string())),
            Var::new("srcport", Int(self.srcadr.port() as i64)),
        ];
        if let Some(h) = &self.srchost {
            v.push(Var::new("srchost", Quoted(h.clone())));
        }
        v.extend([
            Var::new("dstadr", Text(self.dstadr.ip().to_string())),
            Var::new("dstport", Int(self.dstadr.port() as i64)),
            Var::new("leap", Int(self.leap as i64)),
            Var::new("stratum", Int(self.stratum as i64)),
            Var::new("precision", Int(self.precision as i64)),
            Var::new("rootdelay", Ms3(self.rootdelay_ms)),
            Var::new("rootdisp", Ms3(self.rootdisp_ms)),
            Var::new("refid", Text(self.refid.clone())),
            Var::new("reftime", Timestamp(self.reftime)),
            Var::new("rec", Timestamp(self.rec)),
            Var::new("reach", Hex(self.reach as u64)),
            Var::new("unreach", Int(self.unreach as i64)),
            Var::new("hmode", Int(self.hmode as i64)),
            Var::new("pmode", Int(self.pmode as i64)),
            Var::new("hpoll", Int(self.hpoll as i64)),
            Var::new("ppoll", Int(self.ppoll as i64)),
            Var::new("headway", Int(self.headway as i64)),
            Var::new("flash", Hex(self.flash as u64)),
            Var::new(
                "keyid",
                if self.keyid > 65535 {
                    Hex(self.keyid as u64)
                } else {
                    Int(self.keyid as i64)
                },
            ),
            Var::new("offset", Ms3(self.offset_ms)),
            Var::new("delay", Ms3(self.delay_ms)),
            Var::new("dispersion", Ms3(self.dispersion_ms)),
            Var::new("jitter", Ms3(self.jitter_ms)),
            Var::new("filtdelay", Array2(self.filtdelay_ms.clone())),
            Var::new("filtoffset", Array2(self.filtoffset_ms.clone())),
            Var::new("filtdisp", Array2(self.filtdisp_ms.clone())),
        ]);
        if let Some(n) = self.ntscookies {
            v.push(Var::new("ntscookies", Int(n as i64)));
        }
        if let Some(n) = self.xleave {
            v.push(Var::new("xleave", Int(n.min(i64::MAX as u64) as i64)));
        }
        v
    }
}

/// Per-source token bucket for mode 6 requests (a helper: the daemon decides whom to
/// exempt). Bounded memory: the stalest sources are forgotten first.
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_second: f64,
    max_sources: usize,
    buckets: HashMap<IpAddr, (f64, f64)>,
}

impl RateLimiter {
    pub fn new(burst: u32, per_second: f64, max_sources: usize) -> RateLimiter {
        RateLimiter {
            burst: burst as f64,
            per_second,
            max_sources: max_sources.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Take one token for `source` at time `now` (seconds, any epoch).
    pub fn allow(&mut self, source: IpAddr, now: f64) -> bool {
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.max_sources {
            let stalest = self
                .buckets
                .iter()
                .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
                .map(|(k, _)| *k);
            if let Some(k) = stalest {
                self.buckets.remove(&k);
            }
        }
        let (tokens, last) = self.buckets.entry(source).or_insert((self.burst, now));
        *tokens = (*tokens + (now - *last).max(0.0) * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for RateLimiter {
    /// 32 requests at once, 8 per second sustained, 4096 sources: generous for ntpq
    /// (`-p` with 10 peers is 11 requests) and monitoring, tight for floods.
    fn default() -> Self {
        RateLimiter::new(32, 8.0, 4096)
    }
}

/// The mode 6 responder with its per-daemon state: keys, the nonce secret, the limiter.
pub struct Responder {
    keys: KeyStore,
    control_key: Option<u32>,
    nonce_secret: [u8; 16],
    pub limiter: RateLimiter,
}

struct Reply {
    header: Header,
    body: Vec<u8>,
}

impl Responder {
    /// `nonce_secret` must be random (the daemon reads it from the OS at start).
    pub fn new(keys: KeyStore, control_key: Option<u32>, nonce_secret: [u8; 16]) -> Responder {
        Responder {
            keys,
            control_key,
            nonce_secret,
            limiter: RateLimiter::default(),
        }
    }

    /// Answer one request from `source`: the datagrams to send back, empty to drop.
    pub fn respond(
        &mut self,
        request: &[u8],
        source: SocketAddr,
        state: &dyn ControlState,
        restrict: RestrictFlags,
    ) -> Vec<Vec<u8>> {
        if restrict.contains(RestrictFlags::IGNORE) || restrict.contains(RestrictFlags::NOQUERY) {
            return Vec::new();
        }
        let Ok(p) = Packet::decode(request) else {
            return Vec::new();
        };
        let h = p.header;
        if h.response || h.more || h.error || h.offset != 0 || !(1..=4).contains(&h.version) {
            return Vec::new();
        }
        let now = state.now();
        if !source.ip().is_loopback() {
            let t = now.seconds() as f64 + now.fraction() as f64 / 4294967296.0;
            if !self.limiter.allow(source.ip(), t) {
                return Vec::new();
            }
        }
        let mut reply_header = Header {
            leap: state.system_status().leap,
            version: h.version,
            response: true,
            error: false,
            more: false,
            opcode: h.opcode,
            sequence: h.sequence,
            status: 0,
            assoc_id: h.assoc_id,
            offset: 0,
            count: 0,
        };
        // The MAC must be by a key we know; a bad one makes the request unauthenticated.
        let auth_key = p
            .auth
            .and_then(|a| self.keys.verify_digest(a.key_id, p.signed, a.mac).ok());
        if request.len() % 4 != 0 {
            return self.sign(error_reply(reply_header, ErrorCode::BADFMT), auth_key);
        }
        let result = self.dispatch(&p, source, state, restrict, auth_key, &mut reply_header);
        let reply = match result {
            Ok(body) => Reply {
                header: reply_header,
                body,
            },
            Err(code) => error_reply(reply_header, code),
        };
        self.sign(reply, auth_key)
    }

    fn dispatch(
        &mut self,
        p: &Packet,
        source: SocketAddr,
        state: &dyn ControlState,
        restrict: RestrictFlags,
        auth_key: Option<u32>,
        reply: &mut Header,
    ) -> Result<Vec<u8>, ErrorCode> {
        let assoc = p.header.assoc_id;
        match p.header.opcode {
            Opcode::UNSPEC => {
                reply.status = state.system_status().encode();
                Ok(Vec::new())
            }
            Opcode::READSTAT if assoc == 0 => {
                reply.status = state.system_status().encode();
                let mut list = state.associations();
                list.sort_by_key(|(id, _)| *id);
                Ok(encode_assoc_list(&list))
            }
            Opcode::READSTAT => {
                let (st, _) = state.peer_vars(assoc).ok_or(ErrorCode::BADASSOC)?;
                reply.status = st.encode();
                Ok(Vec::new())
            }
            Opcode::READVAR => {
                let vars = if assoc == 0 {
                    reply.status = state.system_status().encode();
                    state.system_vars()
                } else {
                    let (st, vars) = state.peer_vars(assoc).ok_or(ErrorCode::BADASSOC)?;
                    reply.status = st.encode();
                    vars
                };
                let optional = if assoc == 0 { SYSTEM_VARS_IF_SET } else { &[] };
                render_vars(&vars, p.data, optional)
            }
            Opcode::READCLOCK => {
                let (st, vars) = state.clock_vars(assoc).ok_or(ErrorCode::BADASSOC)?;
                reply.status = st.encode();
                render_vars(&vars, p.data, &[])
            }
            Opcode::WRITEVAR => {
                if restrict.contains(RestrictFlags::NOMODIFY) {
                    return Err(ErrorCode::PERMISSION);
                }
                if auth_key.is_none() || auth_key != self.control_key {
                    return Err(ErrorCode::PERMISSION);
                }
                let known: Vec<Var> = if assoc == 0 {
                    state.system_vars()
                } else {
                    state.peer_vars(assoc).ok_or(ErrorCode::BADASSOC)?.1
                };
                let items = control::decode_request_vars(p.data);
                for (name, value) in &items {
                    if !known.iter().any(|v| v.name == name.as_str()) {
                        return Err(ErrorCode::UNKNOWNVAR);
                    }
                    let Some(value) = value else {
                        return Err(ErrorCode::BADVALUE);
                    };
                    state.write_var(assoc, name, value)?;
                }
                reply.status = state.system_status().encode();
                Ok(Vec::new())
            }
            Opcode::REQ_NONCE => {
                reply.status = state.system_status().encode();
                let mut t = TextBuilder::new();
                t.raw("nonce", self.make_nonce(source.ip(), state.now()));
                Ok(t.finish())
            }
            Opcode::READ_MRU => {
                if restrict.contains(RestrictFlags::NOMRULIST) {
                    return Err(ErrorCode::PERMISSION);
                }
                reply.status = state.system_status().encode();
                self.read_mru(p.data, source.ip(), state)
            }
            Opcode::WRITECLOCK => Err(ErrorCode::PERMISSION),
            // traps, run-time configuration and interface lists are not offered
            _ => Err(ErrorCode::BADOP),
        }
    }

    fn make_nonce(&self, addr: IpAddr, now: NtpTimestamp) -> String {
        let (s, f) = (now.seconds(), now.fraction());
        format!("{s:08x}{f:08x}{:08x}", self.nonce_hash(addr, s, f))
    }

    fn nonce_hash(&self, addr: IpAddr, secs: u32, frac: u32) -> u32 {
        use md5::Digest;
        let mut h = md5::Md5::new();
        h.update(self.nonce_secret);
        h.update(secs.to_be_bytes());
        h.update(frac.to_be_bytes());
        match addr {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        let d = h.finalize();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// A nonce we issued to `addr` within the last 16 s.
    fn nonce_valid(&self, nonce: &str, addr: IpAddr, now: NtpTimestamp) -> bool {
        if nonce.len() != 24 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        let part = |i: usize| u32::from_str_radix(&nonce[i..i + 8], 16).unwrap_or(0);
        let (s, f, hash) = (part(0), part(8), part(16));
        if self.nonce_hash(addr, s, f) != hash {
            return false;
        }
        let age = now.seconds().wrapping_sub(s);
        age <= NONCE_LIFETIME_SECS
    }

    fn read_mru(
        &self,
        data: &[u8],
        addr: IpAddr,
        state: &dyn ControlState,
    ) -> Result<Vec<u8>, ErrorCode> {
        let items = control::decode_request_vars(data);
        let get = |n: &str| {
            items
                .iter()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| v.as_deref())
        };
        let now = state.now();
        match get("nonce") {
            Some(n) if self.nonce_valid(n, addr, now) => {}
            _ => return Err(ErrorCode::BADVALUE),
        }
        let frags = get("frags")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(MRU_FRAGS_LIMIT)
            .clamp(1, MRU_FRAGS_LIMIT);
        let limit = get("limit")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(MRU_ROW_LIMIT)
            .clamp(1, MRU_ROW_LIMIT);
        let mincount = get("mincount")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let resume = get("last.0").and_then(NtpTimestamp::parse_hex).map(|t| {
            (
                t,
                get("addr.0")
                    .and_then(|a| a.parse::<SocketAddr>().ok())
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            )
        });
        let mut rows = state.mru();
        rows.sort_by_key(|r| (r.last, r.addr.to_string()));
        let mut out = TextBuilder::new();
        out.raw("nonce", self.make_nonce(addr, now));
        let budget = frags * control::MAX_DATA_LEN;
        let mut complete = true;
        let fresh = rows.iter().filter(|r| r.count >= mincount).filter(|r| {
            resume
                .as_ref()
                .is_none_or(|(t, a)| (r.last, r.addr.to_string()) > (*t, a.clone()))
        });
        for (i, r) in fresh.enumerate() {
            if i >= limit {
                complete = false;
                break;
            }
            // a row is about 130 bytes: stop before the reply outgrows `frags`
            if out.len() + 200 > budget {
                complete = false;
                break;
            }
            out.raw(&format!("addr.{i}"), r.addr)
                .timestamp(&format!("last.{i}"), r.last)
                .timestamp(&format!("first.{i}"), r.first)
                .raw(&format!("ct.{i}"), r.count)
                .raw(&format!("mv.{i}"), (r.version & 7) << 3 | (r.mode & 7))
                .hex(&format!("rs.{i}"), r.restrict as u64);
        }
        if complete {
            out.timestamp("now", now);
            if let Some(newest) = rows.last() {
                out.timestamp("last.newest", newest.last);
            }
        }
        Ok(out.finish())
    }

    fn sign(&self, reply: Reply, key: Option<u32>) -> Vec<Vec<u8>> {
        let datagrams = control::fragment(&reply.header, &reply.body);
        let Some(key) = key.and_then(|k| self.keys.get(k)) else {
            return datagrams;
        };
        datagrams
            .into_iter()
            .map(|d| {
                let Ok(p) = Packet::decode(&d) else { return d };
                control::encode_authenticated(&p.header, p.data, key.id, |m| {
                    key.digest(m).as_bytes().to_vec()
                })
            })
            .collect()
    }
}

fn error_reply(mut header: Header, code: ErrorCode) -> Reply {
    header.error = true;
    header.status = (code.0 as u16) << 8;
    Reply {
        header,
        body: Vec::new(),
    }
}

/// System variables that exist but are sent only when they have a value (no leapfile: no
/// `tai`, `leapsec`, `expire`): asked for by name, NTPsec answers nothing, not UNKNOWNVAR.
const SYSTEM_VARS_IF_SET: &[&str] = &["tai", "leapsec", "expire"];

/// READVAR without the network: what a mode 6 client would decode from `state` (the
/// daemon's own `/metrics` reads itself this way, so it reports exactly what `ntpkit
/// exporter` reads over mode 6). `assoc` 0 is the system.
pub fn read_vars_local(
    state: &dyn ControlState,
    assoc: u16,
    names: &[&str],
) -> Result<crate::wire::control::VarList, ErrorCode> {
    let (vars, optional) = if assoc == 0 {
        (state.system_vars(), SYSTEM_VARS_IF_SET)
    } else {
        let (_, vars) = state.peer_vars(assoc).ok_or(ErrorCode::BADASSOC)?;
        (vars, &[][..])
    };
    let text = render_vars(&vars, &control::encode_request_vars(names), optional)?;
    Ok(control::decode_vars(&text))
}

/// The READVAR text: the default list for an empty request, else the named variables in
/// the order asked (an unknown name fails the whole request, as ntpd does; a known one
/// without a value, listed in `optional`, is left out).
fn render_vars(vars: &[Var], request: &[u8], optional: &[&str]) -> Result<Vec<u8>, ErrorCode> {
    let wanted = control::decode_request_vars(request);
    let mut out = TextBuilder::new();
    if wanted.is_empty() {
        for v in vars.iter().filter(|v| v.default) {
            v.put(&mut out);
        }
    } else {
        for (name, _) in &wanted {
            match vars.iter().find(|v| v.name == name.as_str()) {
                Some(v) => v.put(&mut out),
                None if optional.contains(&name.as_str()) => {}
                None => return Err(ErrorCode::UNKNOWNVAR),
            }
        }
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::client::Client;
    use crate::control::sample::SampleState;
    use crate::wire::auth::{Key, KeyType};
    use crate::wire::control::{
        decode_assoc_list, decode_vars, encode, encode_authenticated, lookup, Accepted,
        Reassembler, Response,
    };

    const NOW: NtpTimestamp = NtpTimestamp(0xeeb1_99a9_0000_0000);

    fn state() -> SampleState {
        SampleState::new(|| NOW, "198.18.0.2:123".parse().unwrap())
    }

    fn responder() -> Responder {
        let mut keys = KeyStore::new();
        keys.insert(Key::new(1, KeyType::Md5, b"secretpassword"));
        keys.insert(Key::new(2, KeyType::Sha1, b"another"));
        Responder::new(keys, Some(1), [7; 16])
    }

    #[test]
    fn leap_dates_are_sent_as_ntpsec_does() {
        assert_eq!(leap_date(3_692_217_600), "2017-01-01T00:00Z");
        assert_eq!(leap_date(4_275_590_400), "2035-06-28T00:00Z");
        // a hostile leapfile's extremes print as some date, never overflow
        assert!(!leap_date(i64::MIN).is_empty());
        assert!(!leap_date(i64::MAX).is_empty());
        let vars = SystemVars {
            tai: 37,
            leapsec: Some(3_692_217_600),
            expire: Some(4_275_590_400),
            ..Default::default()
        }
        .to_vars();
        let names: Vec<&str> = vars.iter().map(|v| v.name.as_ref()).collect();
        let at = names.iter().position(|n| *n == "tai").expect("tai");
        assert_eq!(names[at..at + 3], ["tai", "leapsec", "expire"]);
        assert!(!SystemVars::default()
            .to_vars()
            .iter()
            .any(|v| v.name == "leapsec" || v.name == "expire" || v.name == "tai"));
    }

    const LOCAL: &str = "127.0.0.1:40000";
    const REMOTE: &str = "198.18.0.9:40000";

    fn ask(r: &mut Responder, req: &[u8], from: &str, restrict: RestrictFlags) -> Vec<Vec<u8>> {
        r.respond(req, from.parse().unwrap(), &state(), restrict)
    }

    fn reassemble(datagrams: &[Vec<u8>], seq: u16, op: Opcode) -> Result<Response, ErrorCode> {
        let mut re = Reassembler::new(seq, op);
        for d in datagrams {
            match re.accept(d) {
                Ok(Accepted::Complete(r)) => return Ok(r),
                Ok(_) => {}
                Err(control::ReassemblyError::Server(code, _)) => return Err(code),
                Err(e) => panic!("{e}"),
            }
        }
        panic!("incomplete")
    }

    fn request(op: Opcode, seq: u16, assoc: u16, data: &[u8]) -> Vec<u8> {
        encode(&Header::request(2, op, seq, assoc), data)
    }

    fn capture(frame: u32) -> Vec<u8> {
        crate::wire::control::test_support::ntpsec_capture()
            .into_iter()
            .find(|f| f.0 == frame)
            .unwrap()
            .3
    }

    #[test]
    fn ntpsec_ntpq_readstat_and_readvar_are_answered() {
        let mut r = responder();
        // NTPsec's READSTAT (LI bits set in the request, sequence 1)
        let out = ask(&mut r, &capture(1), LOCAL, RestrictFlags::NONE);
        let resp = reassemble(&out, 1, Opcode::READSTAT).unwrap();
        assert_eq!(resp.header.status, 0x0615);
        let list = decode_assoc_list(&resp.data);
        assert_eq!(list.iter().map(|a| a.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(list[0].1.tally(), '*');
        // NTPsec's READVAR of the default system variables
        let out = ask(&mut r, &capture(13), LOCAL, RestrictFlags::NONE);
        let resp = reassemble(&out, 1, Opcode::READVAR).unwrap();
        let names: Vec<String> = decode_vars(&resp.data).into_iter().map(|v| v.0).collect();
        assert_eq!(
            &names[..8],
            [
                "version",
                "processor",
                "system",
                "leap",
                "stratum",
                "precision",
                "rootdelay",
                "rootdisp"
            ]
        );
        assert!(
            !names.contains(&"peeradr".to_string()),
            "peeradr is not a default variable"
        );
        // NTPsec's sysinfo: named variables, in the order asked
        let out = ask(&mut r, &capture(15), LOCAL, RestrictFlags::NONE);
        let resp = reassemble(&out, 1, Opcode::READVAR).unwrap();
        let vars = decode_vars(&resp.data);
        assert_eq!(vars[0].0, "peeradr");
        assert_eq!(vars[0].1.raw(), "198.18.0.1:123");
        assert_eq!(lookup(&vars, "peermode").unwrap().as_i64(), Some(3));
        assert_eq!(vars.last().unwrap().0, "authdelay");
    }

    #[test]
    fn text_responses_follow_ntpd_layout() {
        let mut r = responder();
        let out = ask(
            &mut r,
            &request(Opcode::READVAR, 5, 1, b""),
            LOCAL,
            RestrictFlags::NONE,
        );
        for d in &out {
            assert_eq!(d.len() % 4, 0);
            assert!(d.len() <= 12 + control::MAX_DATA_LEN);
        }
        let resp = reassemble(&out, 5, Opcode::READVAR).unwrap();
        assert_eq!(resp.header.status, 0x961a);
        let text = String::from_utf8(resp.data.clone()).unwrap();
        assert!(text.ends_with("\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() < 72 + 20, "{line}");
        }
        let vars = decode_vars(&resp.data);
        assert_eq!(
            vars[0],
            ("srcadr".into(), control::Value("198.18.0.1".into()))
        );
        assert_eq!(lookup(&vars, "reach").unwrap().raw(), "0xff");
        assert_eq!(lookup(&vars, "delay").unwrap().raw(), "0.512");
        assert!(lookup(&vars, "rec")
            .unwrap()
            .raw()
            .starts_with("0xeeb1999d."));
        assert_eq!(
            lookup(&vars, "filtdelay").unwrap().raw(),
            "0.51 0.51 0.51 0.51 0.51 0.51 0.51 0.51"
        );
    }

    #[test]
    fn errors_and_drops() {
        let mut r = responder();
        let code = |out: Vec<Vec<u8>>, seq, op| reassemble(&out, seq, op).unwrap_err();
        let unknown = ask(
            &mut r,
            &request(Opcode::READVAR, 2, 0, b"stratum,nosuchvar"),
            LOCAL,
            RestrictFlags::NONE,
        );
        assert_eq!(code(unknown, 2, Opcode::READVAR), ErrorCode::UNKNOWNVAR);
        // leapfile variables without a leapfile: known, so no error, just not there
        let unset = ask(
            &mut r,
            &request(Opcode::READVAR, 5, 0, b"stratum,leapsec,expire"),
            LOCAL,
            RestrictFlags::NONE,
        );
        let text = reassemble(&unset, 5, Opcode::READVAR)
            .expect("no error")
            .data;
        assert_eq!(String::from_utf8_lossy(&text).trim_end(), "stratum=2");
        let badassoc = ask(
            &mut r,
            &request(Opcode::READVAR, 3, 99, b""),
            LOCAL,
            RestrictFlags::NONE,
        );
        assert_eq!(code(badassoc, 3, Opcode::READVAR), ErrorCode::BADASSOC);
        let trap = ask(
            &mut r,
            &request(Opcode::SETTRAP, 4, 0, b""),
            LOCAL,
            RestrictFlags::NONE,
        );
        assert_eq!(code(trap, 4, Opcode::SETTRAP), ErrorCode::BADOP);
        let mut odd = request(Opcode::READVAR, 6, 0, b"");
        odd.push(0);
        assert_eq!(
            code(
                ask(&mut r, &odd, LOCAL, RestrictFlags::NONE),
                6,
                Opcode::READVAR
            ),
            ErrorCode::BADFMT
        );
        // dropped silently: noquery, ignore, responses, garbage, fragments
        let readstat = request(Opcode::READSTAT, 1, 0, b"");
        assert!(ask(&mut r, &readstat, REMOTE, RestrictFlags::NOQUERY).is_empty());
        assert!(ask(&mut r, &readstat, REMOTE, RestrictFlags::IGNORE).is_empty());
        let mut resp = Header::request(2, Opcode::READSTAT, 1, 0);
        resp.response = true;
        assert!(ask(&mut r, &encode(&resp, b""), LOCAL, RestrictFlags::NONE).is_empty());
        assert!(ask(&mut r, b"\x16\x01\x00", LOCAL, RestrictFlags::NONE).is_empty());
        let mut v0 = readstat.clone();
        v0[0] = 6; // version 0
        assert!(ask(&mut r, &v0, LOCAL, RestrictFlags::NONE).is_empty());
    }

    #[test]
    fn writevar_needs_the_control_key() {
        let mut r = responder();
        let data = b"leap=0";
        let plain = request(Opcode::WRITEVAR, 1, 0, data);
        let err = |out: Vec<Vec<u8>>| reassemble(&out, 1, Opcode::WRITEVAR).unwrap_err();
        assert_eq!(
            err(ask(&mut r, &plain, LOCAL, RestrictFlags::NONE)),
            ErrorCode::PERMISSION
        );
        let h = Header::request(2, Opcode::WRITEVAR, 1, 0);
        let md5 = Key::new(1, KeyType::Md5, b"secretpassword");
        let signed = encode_authenticated(&h, data, 1, |m| md5.digest(m).as_bytes().to_vec());
        // authenticated by the controlkey: accepted, the reply signed with the same key
        let st = state();
        let out = r.respond(&signed, LOCAL.parse().unwrap(), &st, RestrictFlags::NONE);
        let p = Packet::decode(&out[0]).unwrap();
        assert_eq!(p.auth.map(|a| a.key_id), Some(1), "reply is signed");
        assert!(
            md5.verify(p.signed, p.auth.unwrap().mac),
            "reply MAC verifies"
        );
        assert!(!p.header.error, "{:?}", p.header);
        assert_eq!(
            *st.written.lock().unwrap(),
            [(0, "leap".to_string(), "0".to_string())]
        );
        // nomodify refuses even the controlkey
        assert_eq!(
            err(ask(&mut r, &signed, LOCAL, RestrictFlags::NOMODIFY)),
            ErrorCode::PERMISSION
        );
        // another known key is not the controlkey; a wrong MAC is no authentication
        let sha = Key::new(2, KeyType::Sha1, b"another");
        let other = encode_authenticated(&h, data, 2, |m| sha.digest(m).as_bytes().to_vec());
        assert_eq!(
            err(ask(&mut r, &other, LOCAL, RestrictFlags::NONE)),
            ErrorCode::PERMISSION
        );
        let forged = encode_authenticated(&h, data, 1, |_| vec![0; 16]);
        let out = ask(&mut r, &forged, LOCAL, RestrictFlags::NONE);
        assert!(Packet::decode(&out[0]).unwrap().auth.is_none());
        // an unknown variable with the right key
        let bad = encode_authenticated(&h, b"nosuch=1", 1, |m| md5.digest(m).as_bytes().to_vec());
        assert_eq!(
            err(ask(&mut r, &bad, LOCAL, RestrictFlags::NONE)),
            ErrorCode::UNKNOWNVAR
        );
    }

    #[test]
    fn mru_needs_a_fresh_nonce() {
        let mut r = responder();
        let out = ask(
            &mut r,
            &request(Opcode::REQ_NONCE, 1, 0, b""),
            REMOTE,
            RestrictFlags::NONE,
        );
        let nonce = decode_vars(&reassemble(&out, 1, Opcode::REQ_NONCE).unwrap().data);
        let nonce = lookup(&nonce, "nonce").unwrap().raw().to_string();
        let req = format!("nonce={nonce}, frags=32");
        let out = ask(
            &mut r,
            &request(Opcode::READ_MRU, 2, 0, req.as_bytes()),
            REMOTE,
            RestrictFlags::NONE,
        );
        let vars = decode_vars(&reassemble(&out, 2, Opcode::READ_MRU).unwrap().data);
        assert_eq!(
            lookup(&vars, "addr.0").unwrap().raw(),
            "198.18.0.4:123",
            "oldest first"
        );
        assert_eq!(lookup(&vars, "ct.2").unwrap().as_i64(), Some(39));
        assert!(lookup(&vars, "now").is_some());
        // the nonce is bound to the address it was given to
        let out = ask(
            &mut r,
            &request(Opcode::READ_MRU, 3, 0, req.as_bytes()),
            "198.18.0.10:1",
            RestrictFlags::NONE,
        );
        assert_eq!(
            reassemble(&out, 3, Opcode::READ_MRU).unwrap_err(),
            ErrorCode::BADVALUE
        );
        // NTPsec's READ_MRU carries NTPsec's nonce, which is not ours
        let out = ask(&mut r, &capture(19), LOCAL, RestrictFlags::NONE);
        assert_eq!(
            reassemble(&out, 2, Opcode::READ_MRU).unwrap_err(),
            ErrorCode::BADVALUE
        );
        // stale after 16 s
        let later = SampleState::new(
            || NtpTimestamp(NOW.0 + (17u64 << 32)),
            "198.18.0.2:123".parse().unwrap(),
        );
        let out = r.respond(
            &request(Opcode::READ_MRU, 4, 0, req.as_bytes()),
            REMOTE.parse().unwrap(),
            &later,
            RestrictFlags::NONE,
        );
        assert_eq!(
            reassemble(&out, 4, Opcode::READ_MRU).unwrap_err(),
            ErrorCode::BADVALUE
        );
        assert_eq!(
            reassemble(
                &ask(
                    &mut r,
                    &request(Opcode::READ_MRU, 5, 0, req.as_bytes()),
                    REMOTE,
                    RestrictFlags::NOMRULIST
                ),
                5,
                Opcode::READ_MRU
            )
            .unwrap_err(),
            ErrorCode::PERMISSION
        );
    }

    #[test]
    fn off_host_floods_are_rate_limited_but_loopback_is_not() {
        let mut r = responder();
        let req = request(Opcode::READSTAT, 1, 0, b"");
        let answered = (0..100)
            .filter(|_| !ask(&mut r, &req, REMOTE, RestrictFlags::NONE).is_empty())
            .count();
        assert_eq!(
            answered, 32,
            "the burst, then nothing within the same instant"
        );
        let local = (0..100)
            .filter(|_| !ask(&mut r, &req, LOCAL, RestrictFlags::NONE).is_empty())
            .count();
        assert_eq!(local, 100);
        let mut lim = RateLimiter::new(2, 1.0, 2);
        let a: IpAddr = "198.18.0.5".parse().unwrap();
        assert!(lim.allow(a, 0.0) && lim.allow(a, 0.0) && !lim.allow(a, 0.0));
        assert!(lim.allow(a, 1.0), "refilled after a second");
        for i in 0..10u8 {
            lim.allow(IpAddr::from([10, 0, 0, i]), 2.0);
        }
        assert!(lim.buckets.len() <= 2, "bounded memory");
    }

    /// Bytes out per byte in for each unauthenticated query an off-host source can make
    /// (UDP payloads; add 28 bytes of IPv4+UDP header to each side for wire ratios).
    /// Printed for docs/mode6.md (`cargo test --lib amplification -- --nocapture`).
    #[test]
    fn amplification_of_unauthenticated_requests() {
        let mut r = responder();
        let cases: [(&str, Vec<u8>); 6] = [
            ("READSTAT assoc list", request(Opcode::READSTAT, 1, 0, b"")),
            (
                "READVAR system default",
                request(Opcode::READVAR, 1, 0, b""),
            ),
            ("READVAR peer default", request(Opcode::READVAR, 1, 1, b"")),
            ("REQ_NONCE", request(Opcode::REQ_NONCE, 1, 0, b"")),
            (
                "READ_MRU without nonce",
                request(Opcode::READ_MRU, 1, 0, b"frags=128"),
            ),
            (
                "WRITEVAR unauthenticated",
                request(Opcode::WRITEVAR, 1, 0, b"leap=0"),
            ),
        ];
        for (what, req) in cases {
            let out = ask(&mut r, &req, REMOTE, RestrictFlags::NONE);
            let bytes: usize = out.iter().map(Vec::len).sum();
            let ratio = bytes as f64 / req.len() as f64;
            let wire = (bytes + 28 * out.len()) as f64 / (req.len() + 28) as f64;
            println!(
                "| {what} | {} | {bytes} in {} datagram(s) | {ratio:.1} | {wire:.1} |",
                req.len(),
                out.len()
            );
            // no unauthenticated query reaches a second fragment's worth of amplification
            // beyond the peer variables (two fragments, like NTPsec's)
            assert!(out.len() <= 2, "{what}");
            if what.contains("MRU") || what.contains("WRITEVAR") {
                assert_eq!(bytes, 12, "{what}: only an error header");
            }
        }
    }

    #[test]
    fn our_client_and_ntpq_session_against_the_responder_on_loopback() {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut r = responder();
            let st = SampleState::new(
                || NtpTimestamp::from_system_time(std::time::SystemTime::now()),
                "198.18.0.2:123".parse().unwrap(),
            );
            let mut buf = [0u8; 1024];
            sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                if &buf[..n] == b"stop" {
                    break;
                }
                for d in r.respond(&buf[..n], from, &st, RestrictFlags::NONE) {
                    sock.send_to(&d, from).unwrap();
                }
            }
        });
        let mut c = Client::connect(&addr.to_string(), std::time::Duration::from_secs(2)).unwrap();
        let (sys, list) = c.associations().unwrap();
        assert_eq!(sys.to_string(), "leap_none, sync_ntp, 1 event, clock_sync");
        assert_eq!(list.len(), 3);
        let v = c.read_vars(0, &["stratum", "refid"]).unwrap();
        assert_eq!(v.get("stratum").unwrap().as_i64(), Some(2));
        let mru = c.mrulist(&[], 4).unwrap();
        assert_eq!(mru.entries.len(), 3);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        {
            let opts = crate::control::ntpq::Options {
                numeric: true,
                ..Default::default()
            };
            let host = addr.to_string();
            let mut s = crate::control::ntpq::Session::new(
                opts,
                std::slice::from_ref(&host),
                &mut out,
                &mut err,
            );
            assert!(s.open_host(&host));
            s.run("peers");
            s.run("as");
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // `when` (columns 38..42) depends on which second the query lands in
        let blank = |l: &str| format!("{}WHEN{}", &l[..38], &l[42..]);
        assert_eq!(
            blank(lines[2]),
            "*198.18.0.1      .GPS.            1 u WHEN   64  377    0.512   -0.034   0.021"
        );
        assert!(
            blank(lines[3]).starts_with(
                "+198.18.0.3      198.18.0.9       3 u WHEN   64  177    1.204    0.871   0.116"
            ),
            "{text}"
        );
        assert!(
            lines[4].starts_with(" 198.18.0.4      .INIT.          16 u    -   64    0"),
            "{text}"
        );
        assert!(
            text.contains("  2     2  9424   yes   yes  none candidate   reachable  2"),
            "{text}"
        );
        assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
        let stop = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        stop.send_to(b"stop", addr).unwrap();
        server.join().unwrap();
    }
}
