//! ntpkit: ntpd, ntpdate, ntpq, ntpstat and hwclock in one binary, over one sans-I/O
//! clock-discipline engine. See README.md for the architecture.

pub mod apps;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub mod localtime;
pub mod metrics;
pub mod ntpdate;
pub mod random;
pub mod rtc;
pub mod sim;
pub mod sys;
pub mod viz;

// The two library crates under crates/, re-exported so that `crate::wire::…` and
// `crate::engine::…` keep naming them everywhere in this crate.
pub use ntpkit_engine as engine;
pub use ntpkit_wire as wire;
