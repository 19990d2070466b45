//! Variables and READVAR's text: a value formatted as ntp.org's `ctl_put*` does, the
//! default list or the names asked for, and the same read without the network for the
//! daemon's `/metrics`. Separate from the lists themselves (`system_vars`, `peer_vars`)
//! because the daemon's other modules build `Var`s of their own too.

use super::ControlState;
use crate::wire::control::{self, ErrorCode, TextBuilder};
use crate::wire::time::NtpTimestamp;
use std::borrow::Cow;

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

/// System variables that exist but are sent only when they have a value (no leapfile: no
/// `tai`, `leapsec`, `expire`): asked for by name, NTPsec answers nothing, not UNKNOWNVAR.
pub(super) const SYSTEM_VARS_IF_SET: &[&str] = &["tai", "leapsec", "expire"];

/// Peer variables of ours that not every row has (`asym`: none for an unresolved name or
/// the LOCAL driver): asked for by name there, nothing is sent rather than UNKNOWNVAR, so
/// `ntpq -c "rv ID asym"` over every association fails on none.
pub(super) const PEER_VARS_IF_SET: &[&str] = &["asym"];

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
        (vars, PEER_VARS_IF_SET)
    };
    let text = render_vars(&vars, &control::encode_request_vars(names), optional)?;
    Ok(control::decode_vars(&text))
}

/// The READVAR text: the default list for an empty request, else the named variables in
/// the order asked (an unknown name fails the whole request, as ntpd does; a known one
/// without a value, listed in `optional`, is left out).
pub(super) fn render_vars(
    vars: &[Var],
    request: &[u8],
    optional: &[&str],
) -> Result<Vec<u8>, ErrorCode> {
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
