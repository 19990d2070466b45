//! The mode 6 control protocol above the wire format: a client (ntpq, ntpstat), chronyd's
//! cmdmon client and its views for ntpq and ntpstat (cmdmon, chronyd, detect), and a
//! sans-I/O responder the daemon plugs its state into.

pub mod auth_glue;
pub mod chronyd;
pub mod client;
pub mod cmdmon;
pub mod cooked;
pub mod detect;
pub mod ntpq;
pub mod ntpstat;
pub mod peers;
pub mod sample;
pub mod server;
pub mod stats_tables;
