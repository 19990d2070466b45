//! ntpd's I/O around the engine: sockets, server replies, restrict and KoD, mode 6, stats,
//! signals, pidfile.

pub mod access;
pub mod mru;
pub mod netio;
pub mod respond;
pub mod status;
