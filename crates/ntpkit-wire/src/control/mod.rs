//! Mode 6 (control) messages: the 12-byte header, fragmentation and reassembly, status
//! words and their ntpq text forms, the `name=value` text of READVAR, and the optional
//! authentication trailer. No I/O: the client (`control::client`) and the server
//! responder (`control::server`) in the `ntpkit` crate sit on top of this.
//!
//! Formats follow ntp.org's `ntp_control.c`/`ntpq.c` (what NTPsec stays compatible with):
//! see REFERENCE.md §2–3.
//!
//! One module per layer: [`header`] (the 12-byte header, one datagram with its
//! authentication trailer), [`fragments`] (splitting and reassembling a response),
//! [`status`] (the system, peer and clock status words) and [`vars`] (`name=value` text).
//! Everything is re-exported here.

pub mod fragments;
pub mod header;
pub mod status;
#[doc(hidden)]
pub mod test_support;
pub mod vars;

pub use fragments::*;
pub use header::*;
pub use status::*;
pub use vars::*;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 12;
/// Largest data part of one fragment (`CTL_MAX_DATA_LEN`).
pub const MAX_DATA_LEN: usize = 468;
/// ntpq gives up on responses of more fragments than this (`MAXFRAGS`).
pub const MAX_FRAGMENTS: usize = 32;
/// Text responses break lines before they reach this many columns (`MAXDATALINELEN`).
pub const MAX_LINE_LEN: usize = 72;
pub const MODE_CONTROL: u8 = 6;

#[cfg(test)]
mod tests;
