//! The clock-discipline engine: sans-I/O and deterministic. It takes events (replies with
//! their timestamps, timer expiries) and returns actions (packets to send, clock commands,
//! the next wake-up). It never reads a clock, a socket or a file.
pub mod filter;
pub mod select;
