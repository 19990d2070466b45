//! `ntpkit viz`: ntpviz's pictures (and Allan/time deviation) from loopstats and peerstats,
//! as one HTML page of inline SVG.

pub mod dev;
pub mod page;
pub mod plot;
pub mod stats;
