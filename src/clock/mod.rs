//! The system clock as a trait: read, slew, step, kernel status. Backends: the Linux kernel,
//! observe-only (never writes) and simulated.
//!
//! Phase corrections are made by the caller (the engine) as a temporary frequency offset
//! (chrony's method), so that the caller always knows exactly how much correction has been
//! applied; the clock itself only offers frequency, step and status controls.

mod kernel;
mod observe;
pub mod oneshot;
mod simulated;

pub use kernel::{kernel_frequency, KernelClock};
pub use observe::ObserveOnlyClock;
pub use simulated::SimulatedClock;

use crate::wire::time::UnixTime;

// The trait and its types belong to the engine, which plans against them; the backends
// here implement it. Re-exported so that `crate::clock::X` keeps naming them.
pub use crate::engine::system_clock::{
    ClockError, ClockLimits, ClockState, SyncStatus, SystemClock,
};

/// Reading the wall clock is I/O, so it is here and not in wire's time types:
/// `UnixTime::now()` wherever this trait is in scope.
pub trait WallClock {
    /// The system's current wall-clock time.
    fn now() -> Self;
}

impl WallClock for UnixTime {
    fn now() -> Self {
        UnixTime::from_system_time(std::time::SystemTime::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ClockLimits::LINUX` is declared in the engine crate; it must match what
    /// [`KernelClock`] really accepts.
    #[test]
    fn linux_limits_match_the_kernel_backend() {
        assert_eq!(ClockLimits::LINUX.max_frequency_ppm, kernel::MAX_TOTAL_PPM);
        assert_eq!(ClockLimits::LINUX.max_drift_ppm, kernel::MAX_FINE_PPM);
    }
}
