//! ntpkit: ntpd, ntpdate, ntpq, ntpstat and hwclock in one binary, over one sans-I/O
//! clock-discipline engine. See README.md for the architecture.

pub mod apps;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod metrics;
pub mod ntpdate;
pub mod rtc;
pub mod sim;
pub mod sys;
pub mod viz;
pub mod wire;
