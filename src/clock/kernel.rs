//! The Linux kernel clock through `clock_adjtime(CLOCK_REALTIME)` (libc). The kernel's own
//! PLL is switched off: the engine sets the frequency directly (`ADJ_FREQUENCY`, ±500 ppm)
//! and, beyond that, the tick length (`ADJ_TICK`, ±10 %), as chrony does, so that fast
//! phase slews are possible without stepping the clock backwards.
//!
//! Never exercise the write paths in tests on a shared machine: they change the host clock.

use super::WallClock as _;
use super::{ClockError, ClockLimits, ClockState, SyncStatus, SystemClock};
use crate::wire::packet::Leap;
use crate::wire::time::UnixTime;

use libc::{
    ADJ_ESTERROR, ADJ_FREQUENCY, ADJ_MAXERROR, ADJ_NANO, ADJ_SETOFFSET, ADJ_STATUS, ADJ_TICK,
    STA_DEL, STA_FLL, STA_FREQHOLD, STA_INS, STA_PLL, STA_PPSFREQ, STA_PPSTIME, STA_UNSYNC,
};

/// Kernel frequency unit: ppm scaled by 2^16.
const FREQ_SCALE: f64 = 65536.0;
/// The kernel clamps `ADJ_FREQUENCY` to ±500 ppm (MAXFREQ) without saying so.
pub(super) const MAX_FINE_PPM: f64 = 500.0;
/// The largest total frequency this backend sets. The kernel refuses (EINVAL) tick lengths
/// outside 900000/USER_HZ..1100000/USER_HZ (±10 %); we stay at half of that, as chrony
/// stays below its own 1/12.
pub(super) const MAX_TOTAL_PPM: f64 = 50_000.0;

/// How this backend sets a total frequency correction of `ppm` on a kernel whose nominal
/// tick is `nominal_tick` µs: (tick length, `ADJ_FREQUENCY` value in ppm·2^16), and the
/// frequency that results (the request rounded to the tick and 2^-16 ppm). Beyond
/// [`ClockLimits::LINUX`] (or not finite) it is refused, exactly as [`KernelClock`]
/// refuses it; the simulated clock applies the same rule.
pub fn kernel_frequency(ppm: f64, nominal_tick: i64) -> Result<(i64, i64, f64), ClockError> {
    if !ppm.is_finite() || ppm.abs() > MAX_TOTAL_PPM {
        return Err(ClockError::FrequencyOutOfRange(format!("{ppm}")));
    }
    // One tick unit is 1 µs per tick, i.e. HZ µs per second.
    let unit_ppm = 1e6 / nominal_tick as f64;
    let ticks = if ppm.abs() <= MAX_FINE_PPM {
        0
    } else {
        (ppm / unit_ppm).round() as i64
    };
    let tick = nominal_tick + ticks;
    let freq = ((ppm - ticks as f64 * unit_ppm) * FREQ_SCALE).round() as i64;
    // The kernel's own rules (kernel/time/timekeeping.c, ntp.c): never hand it a tick it
    // refuses or a frequency it would silently clamp.
    let tick_ok = tick * 10 >= nominal_tick * 9 && tick * 10 <= nominal_tick * 11;
    if !tick_ok || freq.abs() as f64 > MAX_FINE_PPM * FREQ_SCALE {
        return Err(ClockError::FrequencyOutOfRange(format!("{ppm}")));
    }
    Ok((tick, freq, kernel_applied_ppm(tick, freq, nominal_tick)))
}

/// The total frequency a kernel runs at with this tick and `ADJ_FREQUENCY` value, ppm.
fn kernel_applied_ppm(tick: i64, freq: i64, nominal_tick: i64) -> f64 {
    freq as f64 / FREQ_SCALE + (tick - nominal_tick) as f64 * (1e6 / nominal_tick as f64)
}

#[derive(Debug)]
pub struct KernelClock {
    /// Nominal tick length in µs (1e6 / USER_HZ).
    nominal_tick: i64,
}

impl KernelClock {
    /// Open the kernel clock. Reading works unprivileged; writes need CAP_SYS_TIME and
    /// fail with [`ClockError::PermissionDenied`] otherwise.
    pub fn new() -> Result<Self, ClockError> {
        let hz = rustix::param::clock_ticks_per_second();
        let hz = if hz > 0 { hz as i64 } else { 100 };
        let clock = KernelClock {
            nominal_tick: 1_000_000 / hz,
        };
        clock.adjtime(&mut zeroed_timex())?;
        Ok(clock)
    }

    fn adjtime(&self, tx: &mut libc::timex) -> Result<i32, ClockError> {
        // through libc: clock simulators intercept clock_adjtime there
        crate::sys::clock::adjtime_realtime(tx).map_err(|err| match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => ClockError::PermissionDenied,
            _ => ClockError::Os(err.to_string()),
        })
    }

    fn read(&self) -> Result<libc::timex, ClockError> {
        let mut tx = zeroed_timex();
        self.adjtime(&mut tx)?;
        Ok(tx)
    }
}

use crate::sys::clock::empty_timex as zeroed_timex;

impl SystemClock for KernelClock {
    fn now(&self) -> Result<UnixTime, ClockError> {
        Ok(UnixTime::now())
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<f64, ClockError> {
        let (tick, freq, _) = kernel_frequency(ppm, self.nominal_tick)?;
        let current = self.read()?;
        let mut tx = zeroed_timex();
        tx.modes = ADJ_FREQUENCY | ADJ_TICK | ADJ_STATUS;
        tx.freq = freq as libc::c_long;
        tx.tick = tick as libc::c_long;
        // The kernel PLL/FLL must be off, or it would fight our frequency.
        tx.status =
            current.status & !(STA_PLL | STA_FLL | STA_PPSFREQ | STA_PPSTIME | STA_FREQHOLD);
        self.adjtime(&mut tx)?;
        // adjtimex hands back the state after the change: report what the kernel runs at.
        // (c_long is 32 bits on some targets, so the casts are not always no-ops.)
        #[allow(clippy::unnecessary_cast)]
        Ok(kernel_applied_ppm(
            tx.tick as i64,
            tx.freq as i64,
            self.nominal_tick,
        ))
    }

    fn step(&mut self, offset: f64) -> Result<(), ClockError> {
        let mut tx = zeroed_timex();
        tx.modes = ADJ_SETOFFSET | ADJ_NANO;
        let secs = offset.floor();
        tx.time.tv_sec = secs as libc::time_t;
        // With ADJ_NANO the tv_usec field carries nanoseconds.
        tx.time.tv_usec = ((offset - secs) * 1e9).round().min(999_999_999.0) as libc::suseconds_t;
        self.adjtime(&mut tx).map(|_| ())
    }

    fn set_leap(&mut self, leap: Leap) -> Result<(), ClockError> {
        let current = self.read()?;
        let mut tx = zeroed_timex();
        tx.modes = ADJ_STATUS;
        let mut status = current.status & !(STA_INS | STA_DEL);
        match leap {
            Leap::Insert => status |= STA_INS,
            Leap::Delete => status |= STA_DEL,
            Leap::NoWarning | Leap::Unsync => {}
        }
        tx.status = status;
        self.adjtime(&mut tx).map(|_| ())
    }

    fn set_sync_status(&mut self, s: SyncStatus) -> Result<(), ClockError> {
        let current = self.read()?;
        let mut tx = zeroed_timex();
        tx.modes = ADJ_MAXERROR | ADJ_ESTERROR | ADJ_STATUS;
        tx.maxerror = (s.max_error * 1e6).clamp(0.0, 16e6) as libc::c_long;
        tx.esterror = (s.est_error * 1e6).clamp(0.0, 16e6) as libc::c_long;
        tx.status = if s.synchronized {
            current.status & !STA_UNSYNC
        } else {
            current.status | STA_UNSYNC
        };
        self.adjtime(&mut tx).map(|_| ())
    }

    fn state(&self) -> Result<ClockState, ClockError> {
        let tx = self.read()?;
        let (tick_unit_ppm, nominal) = (1e6 / self.nominal_tick as f64, self.nominal_tick);
        let frequency_ppm =
            tx.freq as f64 / FREQ_SCALE + (tx.tick - nominal) as f64 * tick_unit_ppm;
        let leap = if tx.status & STA_INS != 0 {
            Leap::Insert
        } else if tx.status & STA_DEL != 0 {
            Leap::Delete
        } else {
            Leap::NoWarning
        };
        Ok(ClockState {
            frequency_ppm,
            max_error: tx.maxerror as f64 * 1e-6,
            est_error: tx.esterror as f64 * 1e-6,
            synchronized: tx.status & STA_UNSYNC == 0,
            leap,
        })
    }

    fn limits(&self) -> ClockLimits {
        ClockLimits::LINUX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Read-only: never call a write path of the kernel clock in tests.
    #[test]
    fn reading_the_kernel_clock_state_is_harmless() {
        let clock = KernelClock::new().expect("adjtimex read works unprivileged");
        let state = clock.state().unwrap();
        assert!(state.frequency_ppm.abs() < 100_000.0);
    }

    #[test]
    fn frequency_split_keeps_fine_part_within_kernel_limit() {
        let scaled = |ppm: f64| (ppm * FREQ_SCALE).round() as i64;
        assert_eq!(
            kernel_frequency(12.5, 10_000).unwrap(),
            (10_000, scaled(12.5), 12.5)
        );
        let (tick, freq, applied) = kernel_frequency(2_345.0, 10_000).unwrap();
        assert_eq!((tick, freq), (10_023, scaled(45.0)));
        assert!((applied - 2_345.0).abs() < 1e-9);
        let (tick, freq, _) = kernel_frequency(-20_000.0, 10_000).unwrap();
        assert_eq!((tick, freq), (9_800, 0));
        // the applied value is the request on the kernel's 2^-16 ppm grid
        let (_, _, applied) = kernel_frequency(1.0 / 3.0, 10_000).unwrap();
        assert!((applied - 1.0 / 3.0).abs() <= 0.5 / FREQ_SCALE);
        assert_ne!(applied, 1.0 / 3.0);
    }

    #[test]
    fn frequencies_beyond_the_declared_limit_are_refused() {
        assert!(kernel_frequency(50_000.0, 10_000).is_ok());
        assert!(kernel_frequency(-50_000.0, 10_000).is_ok());
        for ppm in [50_011.9, -50_000.5, 1e9, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    kernel_frequency(ppm, 10_000),
                    Err(ClockError::FrequencyOutOfRange(_))
                ),
                "{ppm}"
            );
        }
        // at HZ=1000 (tick 1000 µs) the same limits hold
        assert!(kernel_frequency(49_999.0, 1_000).is_ok());
    }
}
