//! Bytes ↔ typed values. No I/O, no clocks.

pub mod control;
pub mod packet;
pub mod time;
