//! A clock that reads the system time and never changes anything: for `ntpd -x`-style
//! operation without privileges, for `ntpdate -q`, and for tests on a shared machine.

use super::WallClock as _;
use super::{ClockError, ClockLimits, ClockState, SyncStatus, SystemClock};
use crate::wire::packet::Leap;
use crate::wire::time::UnixTime;

/// Reads `CLOCK_REALTIME`; every write is refused with [`ClockError::ObserveOnly`].
/// The commands it was given are remembered so callers can still report what would have
/// been done.
#[derive(Debug, Default, Clone)]
pub struct ObserveOnlyClock {
    pub requested_frequency_ppm: f64,
    pub requested_steps: Vec<f64>,
}

impl ObserveOnlyClock {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SystemClock for ObserveOnlyClock {
    fn now(&self) -> Result<UnixTime, ClockError> {
        Ok(UnixTime::now())
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<f64, ClockError> {
        self.requested_frequency_ppm = ppm;
        Err(ClockError::ObserveOnly)
    }
    fn step(&mut self, offset: f64) -> Result<(), ClockError> {
        self.requested_steps.push(offset);
        Err(ClockError::ObserveOnly)
    }
    fn set_leap(&mut self, _leap: Leap) -> Result<(), ClockError> {
        Err(ClockError::ObserveOnly)
    }
    fn set_sync_status(&mut self, _status: SyncStatus) -> Result<(), ClockError> {
        Err(ClockError::ObserveOnly)
    }
    fn state(&self) -> Result<ClockState, ClockError> {
        Ok(ClockState {
            frequency_ppm: self.requested_frequency_ppm,
            max_error: 16.0,
            est_error: 16.0,
            synchronized: false,
            leap: Leap::NoWarning,
        })
    }
    fn limits(&self) -> ClockLimits {
        // what the kernel clock it stands in for would accept
        ClockLimits::LINUX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observe_only_refuses_every_write() {
        let mut c = ObserveOnlyClock::new();
        assert!(c.now().unwrap().secs > 1_600_000_000);
        assert_eq!(c.set_frequency(12.5), Err(ClockError::ObserveOnly));
        assert_eq!(c.step(0.3), Err(ClockError::ObserveOnly));
        assert_eq!(c.set_leap(Leap::Insert), Err(ClockError::ObserveOnly));
        assert_eq!(c.requested_steps, vec![0.3]);
        assert_eq!(c.state().unwrap().frequency_ppm, 12.5);
    }
}
