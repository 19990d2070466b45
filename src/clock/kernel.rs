//! The Linux kernel clock through `clock_adjtime(CLOCK_REALTIME)` (libc). The kernel's own
//! PLL is switched off: the engine sets the frequency directly (`ADJ_FREQUENCY`, ±500 ppm)
//! and, beyond that, the tick length (`ADJ_TICK`, ±10 %), as chrony does, so that fast
//! phase slews are possible without stepping the clock backwards.
//!
//! Never exercise the write paths in tests on a shared machine: they change the host clock.

use super::{ClockError, ClockState, SyncStatus, SystemClock};
use crate::wire::packet::Leap;
use crate::wire::time::UnixTime;

// Linux uapi <linux/timex.h>; glibc's libc crate does not export all of these.
const ADJ_FREQUENCY: u32 = 0x0002;
const ADJ_MAXERROR: u32 = 0x0004;
const ADJ_ESTERROR: u32 = 0x0008;
const ADJ_STATUS: u32 = 0x0010;
const ADJ_SETOFFSET: u32 = 0x0100;
const ADJ_NANO: u32 = 0x2000;
const ADJ_TICK: u32 = 0x4000;
const STA_PLL: i32 = 0x0001;
const STA_PPSFREQ: i32 = 0x0002;
const STA_PPSTIME: i32 = 0x0004;
const STA_FLL: i32 = 0x0008;
const STA_INS: i32 = 0x0010;
const STA_DEL: i32 = 0x0020;
const STA_UNSYNC: i32 = 0x0040;
const STA_FREQHOLD: i32 = 0x0080;

/// Kernel frequency unit: ppm scaled by 2^16.
const FREQ_SCALE: f64 = 65536.0;
const KERNEL_MAX_FREQ_PPM: f64 = 500.0;

#[derive(Debug)]
pub struct KernelClock {
    /// Nominal tick length in µs (1e6 / USER_HZ).
    nominal_tick: i64,
}

impl KernelClock {
    /// Open the kernel clock. Reading works unprivileged; writes need CAP_SYS_TIME and
    /// fail with [`ClockError::PermissionDenied`] otherwise.
    pub fn new() -> Result<Self, ClockError> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as i64 } else { 100 };
        let clock = KernelClock {
            nominal_tick: 1_000_000 / hz,
        };
        clock.adjtime(&mut zeroed_timex())?;
        Ok(clock)
    }

    fn adjtime(&self, tx: &mut libc::timex) -> Result<i32, ClockError> {
        // SAFETY: `tx` is a valid, initialised timex owned by the caller for the call.
        let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, tx) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => ClockError::PermissionDenied,
                _ => ClockError::Os(err.to_string()),
            });
        }
        Ok(rc)
    }

    fn read(&self) -> Result<libc::timex, ClockError> {
        let mut tx = zeroed_timex();
        self.adjtime(&mut tx)?;
        Ok(tx)
    }

    /// Split a frequency into tick length (100 ppm steps at HZ=100) and the fine
    /// `ADJ_FREQUENCY` remainder within ±500 ppm.
    fn split_frequency(&self, ppm: f64) -> (i64, f64) {
        // One tick unit is 1 µs per tick, i.e. HZ µs per second.
        let unit_ppm = 1e6 / self.nominal_tick as f64;
        if ppm.abs() <= KERNEL_MAX_FREQ_PPM {
            return (self.nominal_tick, ppm);
        }
        let ticks = (ppm / unit_ppm).round() as i64;
        (self.nominal_tick + ticks, ppm - ticks as f64 * unit_ppm)
    }
}

fn zeroed_timex() -> libc::timex {
    // SAFETY: timex is a plain C struct for which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

impl SystemClock for KernelClock {
    fn now(&self) -> Result<UnixTime, ClockError> {
        Ok(UnixTime::now())
    }

    fn set_frequency(&mut self, ppm: f64) -> Result<(), ClockError> {
        if !ppm.is_finite() || ppm.abs() > self.max_frequency_ppm() {
            return Err(ClockError::FrequencyOutOfRange(format!("{ppm}")));
        }
        let (tick, fine) = self.split_frequency(ppm);
        let current = self.read()?;
        let mut tx = zeroed_timex();
        tx.modes = ADJ_FREQUENCY | ADJ_TICK | ADJ_STATUS;
        tx.freq = (fine * FREQ_SCALE).round() as libc::c_long;
        tx.tick = tick as libc::c_long;
        // The kernel PLL/FLL must be off, or it would fight our frequency.
        tx.status =
            current.status & !(STA_PLL | STA_FLL | STA_PPSFREQ | STA_PPSTIME | STA_FREQHOLD);
        self.adjtime(&mut tx).map(|_| ())
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

    fn max_frequency_ppm(&self) -> f64 {
        // The kernel accepts tick lengths within ±10 % of nominal; stay well inside.
        50_000.0
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
        let clock = KernelClock {
            nominal_tick: 10_000,
        };
        assert_eq!(clock.split_frequency(12.5), (10_000, 12.5));
        let (tick, fine) = clock.split_frequency(2_345.0);
        assert_eq!(tick, 10_023);
        assert!((fine - 45.0).abs() < 1e-9);
        let (tick, fine) = clock.split_frequency(-20_000.0);
        assert_eq!(tick, 9_800);
        assert!(fine.abs() < 1e-9);
    }
}
