//! A clock in virtual time with a drifting oscillator, driven by the simulator.

use super::{kernel_frequency, ClockError, ClockLimits, ClockState, SyncStatus, SystemClock};
use crate::wire::packet::Leap;
use crate::wire::time::{NtpDuration, UnixTime};

/// The kernel's nominal tick at USER_HZ 100, µs.
const NOMINAL_TICK: i64 = 10_000;

/// Virtual clock: `reading = epoch + true_time + offset`. The simulator advances true time
/// and sets the oscillator's own frequency error; the discipline's frequency correction
/// and steps act on `offset` exactly as the kernel would act on the real clock. It accepts
/// and refuses frequencies exactly as the kernel backend does ([`kernel_frequency`], at
/// USER_HZ 100) and runs at the value the kernel would apply.
#[derive(Debug, Clone)]
pub struct SimulatedClock {
    epoch: UnixTime,
    true_time: f64,
    offset: f64,
    oscillator_error: f64,
    frequency_ppm: f64,
    leap: Leap,
    status: SyncStatus,
    steps: Vec<(f64, f64)>,
}

impl SimulatedClock {
    /// A clock whose true time starts at `epoch`, reading `initial_offset` seconds ahead of
    /// it, with an oscillator running `oscillator_ppm` fast.
    pub fn new(epoch: UnixTime, initial_offset: f64, oscillator_ppm: f64) -> Self {
        SimulatedClock {
            epoch,
            true_time: 0.0,
            offset: initial_offset,
            oscillator_error: oscillator_ppm * 1e-6,
            frequency_ppm: 0.0,
            leap: Leap::NoWarning,
            status: SyncStatus {
                max_error: 16.0,
                est_error: 16.0,
                synchronized: false,
            },
            steps: Vec::new(),
        }
    }

    /// Let `dt` seconds of true time pass.
    pub fn advance(&mut self, dt: f64) {
        self.offset += (self.oscillator_error + self.frequency_ppm * 1e-6) * dt;
        self.true_time += dt;
    }

    /// True seconds since the epoch.
    pub fn true_time(&self) -> f64 {
        self.true_time
    }

    /// The true instant `t` seconds after the epoch, as a wall-clock value.
    pub fn true_instant(&self, t: f64) -> UnixTime {
        self.epoch + NtpDuration::from_seconds(t)
    }

    /// Clock reading minus true time, seconds.
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// The oscillator's own frequency error (fraction, 1e-6 = 1 ppm fast).
    pub fn oscillator_error(&self) -> f64 {
        self.oscillator_error
    }

    pub fn set_oscillator_error(&mut self, fraction: f64) {
        self.oscillator_error = fraction;
    }

    /// Net frequency error of the disciplined clock (fraction).
    pub fn frequency_error(&self) -> f64 {
        self.oscillator_error + self.frequency_ppm * 1e-6
    }

    /// UTC inserted (+1) or deleted (−1) a leap second now: an armed clock follows it
    /// (the kernel repeats or skips the second and disarms); otherwise the clock is that
    /// much off UTC from now on.
    pub fn leap_second(&mut self, direction: f64) {
        let armed = match self.leap {
            Leap::Insert => 1.0,
            Leap::Delete => -1.0,
            _ => 0.0,
        };
        self.offset += direction - armed;
        self.leap = Leap::NoWarning;
    }

    /// Steps taken so far: (true time, step size).
    pub fn steps(&self) -> &[(f64, f64)] {
        &self.steps
    }

    pub fn sync_status(&self) -> SyncStatus {
        self.status
    }

    pub fn leap(&self) -> Leap {
        self.leap
    }
}

impl SystemClock for SimulatedClock {
    fn now(&self) -> Result<UnixTime, ClockError> {
        Ok(self.epoch + NtpDuration::from_seconds(self.true_time + self.offset))
    }
    fn set_frequency(&mut self, ppm: f64) -> Result<f64, ClockError> {
        let (_, _, applied) = kernel_frequency(ppm, NOMINAL_TICK)?;
        self.frequency_ppm = applied;
        Ok(applied)
    }
    fn step(&mut self, offset: f64) -> Result<(), ClockError> {
        self.offset += offset;
        self.steps.push((self.true_time, offset));
        Ok(())
    }
    fn set_leap(&mut self, leap: Leap) -> Result<(), ClockError> {
        self.leap = leap;
        Ok(())
    }
    fn set_sync_status(&mut self, status: SyncStatus) -> Result<(), ClockError> {
        self.status = status;
        Ok(())
    }
    fn state(&self) -> Result<ClockState, ClockError> {
        Ok(ClockState {
            frequency_ppm: self.frequency_ppm,
            max_error: self.status.max_error,
            est_error: self.status.est_error,
            synchronized: self.status.synchronized,
            leap: self.leap,
        })
    }
    fn limits(&self) -> ClockLimits {
        ClockLimits::LINUX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oscillator_error_accumulates_and_correction_cancels_it() {
        let mut c = SimulatedClock::new(UnixTime::new(1_700_000_000, 0), 0.0, 10.0);
        c.advance(100.0);
        assert!((c.offset() - 1e-3).abs() < 1e-12);
        c.set_frequency(-10.0).unwrap();
        c.advance(100.0);
        assert!((c.offset() - 1e-3).abs() < 1e-12);
        c.step(-1e-3).unwrap();
        assert!(c.offset().abs() < 1e-12);
        assert_eq!(c.steps().len(), 1);
        let reading = c.now().unwrap() - UnixTime::new(1_700_000_000, 0);
        assert!((reading - 200.0).abs() < 1e-6);
    }

    #[test]
    fn frequency_beyond_the_kernel_backends_limit_is_refused_and_changes_nothing() {
        let mut c = SimulatedClock::new(UnixTime::new(0, 0), 0.0, 0.0);
        assert_eq!(c.set_frequency(-499.0), Ok(-499.0));
        assert_eq!(c.set_frequency(-50_000.0), Ok(-50_000.0));
        assert!(c.set_frequency(-50_011.9).is_err());
        assert!(c.set_frequency(f64::NAN).is_err());
        assert_eq!(c.state().unwrap().frequency_ppm, -50_000.0);
        // the kernel's resolution: the value applied is what the clock runs at
        let applied = c.set_frequency(0.1).unwrap();
        assert!((applied - 0.1).abs() < 1e-5 && applied != 0.1);
        assert_eq!(c.state().unwrap().frequency_ppm, applied);
    }
}
