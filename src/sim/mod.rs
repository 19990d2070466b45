//! Oscillator and network models that drive the engine in virtual time.

pub mod recorded;
mod rng;
mod run;
mod scenario;
pub mod stamps;

pub use rng::Rng;
pub use run::{run, run_observed, run_with, SimResult};
pub use scenario::ServerFault;
pub use scenario::{Scenario, SimConfig};
