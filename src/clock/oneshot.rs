//! One-shot phase slew through `adjtime(3)` (the kernel's ADJ_OFFSET_SINGLESHOT): the
//! kernel slews the given offset out at 500 ppm and stops. This is what ntpdate's default
//! (and `-B`) correction does; a daemon uses [`super::SystemClock::set_frequency`] instead.
//!
//! Never exercise this in tests on a shared machine except without CAP_SYS_TIME.

use super::ClockError;

/// Ask the kernel to slew the clock by `offset` seconds (positive: forwards).
pub fn slew(offset: f64) -> Result<(), ClockError> {
    if !offset.is_finite() || offset.abs() > 2000.0 {
        return Err(ClockError::Os(format!(
            "cannot slew by {offset} s (adjtime limit)"
        )));
    }
    let micros = (offset * 1e6).round() as i64;
    crate::sys::clock::slew_once(micros).map_err(|err| match err.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => ClockError::PermissionDenied,
        _ => ClockError::Os(err.to_string()),
    })
}
