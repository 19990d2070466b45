//! Which clock the daemon disciplines, chosen once at start (the kernel's, or an observer
//! when it may not or must not adjust it), and what the core falls back to when a later
//! adjustment is refused.

use super::log;
use crate::clock::{ClockError, KernelClock, ObserveOnlyClock, SyncStatus, SystemClock};

/// The clock the daemon disciplines: observe-only with `--observe-only` or `disable ntp`;
/// otherwise the kernel clock,
/// unless the first write (marking the clock unsynchronised until our first update, as
/// ntp.org's ntpd does) is refused, in which case we warn and observe only.
pub struct ChosenClock {
    pub clock: Box<dyn SystemClock + Send>,
    pub observe_only: bool,
}

impl ChosenClock {
    pub fn observe() -> ChosenClock {
        ChosenClock {
            clock: Box::new(ObserveOnlyClock::new()),
            observe_only: true,
        }
    }
}

pub fn choose_clock(observe_only: bool) -> ChosenClock {
    let observe = ChosenClock::observe;
    if observe_only {
        log::notice(
            "observe-only (--observe-only or 'disable ntp'): the system clock will not be adjusted",
        );
        return observe();
    }
    let mut kernel = match KernelClock::new() {
        Ok(k) => k,
        Err(e) => {
            log::warn(&format!(
                "cannot use the kernel clock ({e}); observing only"
            ));
            return observe();
        }
    };
    // As ntp.org's ntpd at start: the kernel hears "unsynchronised, error unknown" (16 s,
    // the kernel's limit) until our first clock update, so adjtimex readers (ntpstat,
    // node_exporter's node_timex_*) never see a previous run's "synchronised" carried
    // over. It doubles as the trial write that tells whether we may adjust the clock.
    let trial = kernel.set_sync_status(SyncStatus {
        max_error: 16.0,
        est_error: 16.0,
        synchronized: false,
    });
    match trial {
        Ok(()) => ChosenClock {
            clock: Box::new(kernel),
            observe_only: false,
        },
        Err(ClockError::PermissionDenied) => {
            log::warn(
                "not permitted to adjust the system clock (no CAP_SYS_TIME): \
                 continuing in observe-only mode, as with --observe-only",
            );
            observe()
        }
        Err(e) => {
            log::warn(&format!(
                "the kernel clock refused an adjustment ({e}); observing only"
            ));
            observe()
        }
    }
}
