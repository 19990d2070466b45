//! Bytes ↔ typed values. No I/O, no clocks.

pub mod auth;
pub mod cmdmon;
pub mod control;
pub mod extension;
pub mod message;
pub mod nts;
pub mod packet;
pub mod time;
