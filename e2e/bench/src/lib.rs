//! Roster's benchmarks on real control planes. Each suite measures and returns [`Figure`](figure::Figure)s;
//! `main` prints them as a table and writes them as JSON to `.bench/results.json`.
//!
//! Figures are measured, never asserted: a suite reports how far a figure is from its target
//! and why it stopped where it did, and the table shows it.

pub mod admission;
pub mod credentials;
pub mod figure;
pub mod fleet;
pub mod pods;
pub mod report;
