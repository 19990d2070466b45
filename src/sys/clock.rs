//! The system clock and broken-down time through the C library. Reading and adjusting the
//! clock goes through libc, not raw system calls, on purpose: libfaketime (the tests'
//! falsetickers) and clock simulators intercept `clock_gettime`, `clock_adjtime` and
//! `adjtime` there. Local time is the C library's, so it follows TZ as ntp.org and
//! util-linux do.

use std::io;
use std::mem::MaybeUninit;

/// CLOCK_REALTIME as (seconds, nanoseconds) since the Unix epoch, through libc.
pub fn realtime() -> (i64, u32) {
    let mut ts = MaybeUninit::<libc::timespec>::uninit();
    // SAFETY: clock_gettime writes one timespec into `ts`; CLOCK_REALTIME always exists, so
    // the call cannot fail and `ts` is initialised afterwards.
    let ts = unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, ts.as_mut_ptr());
        ts.assume_init()
    };
    (ts.tv_sec, ts.tv_nsec as u32)
}

/// An all-zero `struct tm` (a null tm_zone is allowed).
fn empty_tm() -> libc::tm {
    libc::tm {
        tm_sec: 0,
        tm_min: 0,
        tm_hour: 0,
        tm_mday: 0,
        tm_mon: 0,
        tm_year: 0,
        tm_wday: 0,
        tm_yday: 0,
        tm_isdst: 0,
        tm_gmtoff: 0,
        tm_zone: std::ptr::null(),
    }
}

/// Broken-down `secs` (Unix time) in UTC (`gmtime_r`) or the local time zone
/// (`localtime_r`); None when the C library cannot represent it.
pub fn broken_down(secs: i64, utc: bool) -> Option<libc::tm> {
    let t: libc::time_t = secs;
    let mut tm = empty_tm();
    // SAFETY: both pointers are valid for the call; the _r variants write only into `tm`
    // (tm_zone then points at static zone data of the C library).
    let ok = unsafe {
        if utc {
            !libc::gmtime_r(&t, &mut tm).is_null()
        } else {
            !libc::localtime_r(&t, &mut tm).is_null()
        }
    };
    ok.then_some(tm)
}

/// Broken-down time to Unix time, read as UTC (`timegm`) or local time (`mktime`); the
/// fields are set as util-linux sets them. None when the C library rejects it.
pub fn from_broken_down(fields: [i32; 6], isdst: i32, utc: bool) -> Option<i64> {
    let [sec, min, hour, mday, mon, year] = fields;
    let mut tm = libc::tm {
        tm_sec: sec,
        tm_min: min,
        tm_hour: hour,
        tm_mday: mday,
        tm_mon: mon,
        tm_year: year,
        tm_isdst: isdst,
        ..empty_tm()
    };
    // SAFETY: `tm` is a valid, initialised struct tm owned by us for the call.
    let t = unsafe {
        if utc {
            libc::timegm(&mut tm)
        } else {
            libc::mktime(&mut tm)
        }
    };
    (t != -1).then_some(t)
}

/// An all-zero `struct timex` (modes 0: a read).
pub fn empty_timex() -> libc::timex {
    // SAFETY: timex is a plain C struct of integers (and padding); all-zero is valid.
    unsafe { std::mem::zeroed() }
}

/// `clock_adjtime(CLOCK_REALTIME, tx)`: the kernel's state (TIME_OK, TIME_INS, …).
pub fn adjtime_realtime(tx: &mut libc::timex) -> io::Result<i32> {
    // SAFETY: `tx` is a valid, initialised timex borrowed mutably for the call.
    let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, tx) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// `adjtime(3)`: slew the clock by `micros` µs once (ADJ_OFFSET_SINGLESHOT).
pub fn slew_once(micros: i64) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: micros.div_euclid(1_000_000) as libc::time_t,
        tv_usec: micros.rem_euclid(1_000_000) as libc::suseconds_t,
    };
    // SAFETY: `tv` is a valid timeval; the old-delta pointer may be null.
    if unsafe { libc::adjtime(&tv, std::ptr::null_mut()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `struct timezone` as the settimeofday system call reads it (libc keeps it opaque).
#[repr(C)]
struct KernelTimezone {
    minutes_west: libc::c_int,
    dst_time: libc::c_int,
}

/// settimeofday(NULL, {minutes_west, 0}): the kernel time zone (and, on the first call after
/// boot, warp_clock / persistent_clock_is_local). glibc's settimeofday refuses a time zone;
/// the raw system call still takes one.
pub fn set_kernel_timezone(minutes_west: i32) -> io::Result<()> {
    let tz = KernelTimezone {
        minutes_west,
        dst_time: 0,
    };
    // SAFETY: a null timeval and a pointer to a valid timezone are what the call expects.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_settimeofday,
            std::ptr::null::<libc::timeval>(),
            &tz as *const KernelTimezone,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
