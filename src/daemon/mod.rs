//! ntpd's I/O around the engine: sockets, server replies, restrict and KoD, mode 6, stats,
//! signals, pidfile.

pub mod access;
pub mod load;
pub mod log;
pub mod metrics;
pub mod mru;
pub mod netio;
pub mod nts_server;
pub mod process;
pub mod respond;
pub mod run;
pub mod server;
pub mod settings;
pub mod status;

pub use load::start;
pub mod auth;
pub mod chosen_clock;
pub mod client;
pub mod config_bridge;
pub mod core;
pub mod flags;
pub mod interfaces;
pub mod listen;
pub mod nts_client;
pub mod nts_ke;
pub mod pool;
pub mod privilege;
pub mod stats;
pub mod sym_txstamp;
pub mod sysstats;
pub mod tx_predict;
pub mod txstamp;
pub mod view;
pub mod xleave;
pub mod xleave_sym;
