//! The system clock as the engine sees it: the [`SystemClock`] trait a backend implements,
//! what it accepts ([`ClockLimits`]), what it reports ([`ClockState`], [`SyncStatus`]) and
//! how it fails ([`ClockError`]). The backends themselves (the Linux kernel, observe-only,
//! simulated) do I/O and live in the `ntpkit` crate's `clock` module.
//!
//! Phase corrections are made by the caller (the engine) as a temporary frequency offset
//! (chrony's method), so that the caller always knows exactly how much correction has been
//! applied; the clock itself only offers frequency, step and status controls.

use ntpkit_wire::packet::Leap;
use ntpkit_wire::time::UnixTime;

/// Errors from a clock backend. `PermissionDenied` is separate so that a daemon can fall
/// back to observe-only operation with a warning instead of giving up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("not permitted to adjust the system clock (CAP_SYS_TIME needed)")]
    PermissionDenied,
    #[error("this clock is observe-only and never adjusts the system clock")]
    ObserveOnly,
    #[error("frequency {0} ppm is outside the supported range")]
    FrequencyOutOfRange(String),
    #[error("system clock call failed: {0}")]
    Os(String),
}

/// What the kernel is told about synchronisation quality; read by ntpstat-style tools
/// (`adjtimex`) and by the kernel's 11-minute RTC mode, which runs only while the clock is
/// marked synchronised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyncStatus {
    /// Maximum error bound, seconds (root delay/2 + root dispersion).
    pub max_error: f64,
    /// Estimated error, seconds (jitter).
    pub est_error: f64,
    /// `false` sets STA_UNSYNC, `true` clears it.
    pub synchronized: bool,
}

/// What a backend accepts, declared so that the engine plans within it (a command beyond
/// these limits is refused, and a refused command must not be booked as done).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockLimits {
    /// Largest |total frequency correction| (drift compensation plus phase slew), ppm.
    pub max_frequency_ppm: f64,
    /// Largest |drift compensation| worth holding, ppm (the kernel's `ADJ_FREQUENCY`
    /// range; an oscillator beyond it is broken).
    pub max_drift_ppm: f64,
}

impl ClockLimits {
    /// The Linux kernel backend's limits (`ntpkit::clock::KernelClock`): ±500 ppm through
    /// `ADJ_FREQUENCY`, beyond that the tick length, up to ±50 000 ppm (half the kernel's
    /// ±10 % tick range). The kernel backend checks that its own constants agree.
    pub const LINUX: ClockLimits = ClockLimits {
        max_frequency_ppm: 50_000.0,
        max_drift_ppm: 500.0,
    };
}

/// A read-back of the clock's discipline state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockState {
    /// The frequency correction in force, ppm.
    pub frequency_ppm: f64,
    /// The published error bounds, s (see [`SyncStatus`]).
    pub max_error: f64,
    pub est_error: f64,
    /// Whether the clock is marked synchronised.
    pub synchronized: bool,
    /// The leap second armed, if any.
    pub leap: Leap,
}

/// The system clock as the engine's commands need it.
pub trait SystemClock {
    /// Current reading of the clock (UTC).
    fn now(&self) -> Result<UnixTime, ClockError>;
    /// Set the frequency correction, ppm; positive makes the clock run faster. This is the
    /// total correction (drift compensation plus any phase slew in progress). Returns the
    /// frequency the clock really runs at now (the request rounded to the backend's
    /// resolution); beyond [`SystemClock::limits`] it refuses and nothing changes.
    fn set_frequency(&mut self, ppm: f64) -> Result<f64, ClockError>;
    /// Step the clock by `offset` seconds (positive moves it forward).
    fn step(&mut self, offset: f64) -> Result<(), ClockError>;
    /// Arm (or disarm with `NoWarning`) a leap second at the end of the current UTC day.
    fn set_leap(&mut self, leap: Leap) -> Result<(), ClockError>;
    /// Publish error bounds and the synchronised flag.
    fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError>;
    /// Read back the discipline state.
    fn state(&self) -> Result<ClockState, ClockError>;
    /// What the backend accepts.
    fn limits(&self) -> ClockLimits;
}

impl<C: SystemClock + ?Sized> SystemClock for Box<C> {
    fn now(&self) -> Result<UnixTime, ClockError> {
        (**self).now()
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<f64, ClockError> {
        (**self).set_frequency(ppm)
    }
    fn step(&mut self, offset: f64) -> Result<(), ClockError> {
        (**self).step(offset)
    }
    fn set_leap(&mut self, leap: Leap) -> Result<(), ClockError> {
        (**self).set_leap(leap)
    }
    fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError> {
        (**self).set_sync_status(status)
    }
    fn state(&self) -> Result<ClockState, ClockError> {
        (**self).state()
    }
    fn limits(&self) -> ClockLimits {
        (**self).limits()
    }
}
