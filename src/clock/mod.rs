//! The system clock as a trait: read, slew, step, kernel status. Backends: the Linux kernel,
//! observe-only (never writes) and simulated.
