//! gauntlet: a load and chaos test harness for integrations with the Dual API and
//! the Boson Protocol.
//!
//! # Layout
//!
//! - [`cli`]: the command line (clap), every CI-set flag also read from the environment.
//! - [`mock`]: `gauntlet mock`, the twin as a standalone server for a team's own client.
//! - [`secrets`]: where keys and tokens come from, and how they are shown (redacted).
//! - [`signal`]: one shutdown future for Ctrl-C and SIGTERM.
//! - [`exit`]: errors mapped to exit codes (0 pass, 1 a check failed, 2 usage, config
//!   or environment error).
//!
//! The twin itself is the `gauntlet-mock` crate; later parts (plan, load, measure,
//! handler, verdict, report, smoke) join as modules here.

pub mod cli;
pub mod exit;
pub mod mock;
pub mod secrets;
pub mod signal;
