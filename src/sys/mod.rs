//! The operating system below the kept crates. nix, rustix, socket2 and getrandom wrap most
//! of what ntpkit asks of the kernel; what is left is here: calls they do not wrap (the
//! RTC ioctls' argument types, capabilities before `-u`, SCHED_FIFO, adjtime, the kernel
//! time zone, syslog, getnameinfo), the batched socket calls of the serving path, and the
//! calls that must go through the C library so that faketime and simulators (clknetsim)
//! can intercept them (`clock_gettime`, `clock_adjtime`, `adjtime`).
//!
//! Every `unsafe` block of ntpkit is in these files, each with a
//! `// SAFETY:` line; everything they export is safe to call.

pub mod clock;
pub mod process;
pub mod rtc;
pub mod socket;
pub mod syslog;
