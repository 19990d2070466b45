//! `ControlState`: the one interface between the responder and the daemon (or a test's
//! `SampleState`). Separate so what mode 6 can see of the daemon reads in one place.

use super::{MruRow, Var};
use crate::wire::control::{
    ClockStatusWord as ClockStatus, ErrorCode, PeerStatusWord as PeerStatus,
    SystemStatusWord as SystemStatus,
};
use crate::wire::time::NtpTimestamp;

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
