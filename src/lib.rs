//! gauntlet: a load and chaos test harness for integrations with the Dual API and
//! the Boson Protocol.
//!
//! # Layout
//!
//! - [`cli`]: the command line (clap), every CI-set flag also read from the environment.
//! - [`mock`]: `gauntlet mock`, the twin as a standalone server for a team's own client.
//! - [`calibrate`]: `gauntlet calibrate`, the harness's own floor on this machine
//!   (the ^Z test against theory, a pacing sweep), the twin in a child process.
//! - [`run`]: `gauntlet run` (its load phase in `run::load`), one run as data flows: plan, twin, load, verdict, report.
//! - [`plan`]: plan files, read raw then checked (errors name file, line, key).
//! - [`client`]: the reference Dual client (backoff, idempotency, partial retries, flaws).
//! - [`boson`]: a Boson client (paced JSON-RPC, signed transactions, reverts by name,
//!   confirmations, the subgraph's head). [`smoke`]: `gauntlet smoke`, the known-offer walk.
//! - [`load`]: goose users fed by the open-model [`load::pacer`].
//! - [`measure`]: the client's HDR histograms; [`snapshots`]: interval log and progress.
//! - [`verdict`]: client measurements joined with the twin's oracle, against thresholds.
//! - [`report`]: the run folder: `summary.json`, `report.html`, `junit.xml`, `summary.md`,
//!   the terminal table. [`compare`]: baselines. [`progress`]: the live progress line.
//! - [`twin_link`]: embedded or remote twin.
//! - [`target`]: where load may go (loopback unless named).
//! - [`handler`]: the reference webhook handler and its flaws (`gauntlet handler`).
//! - [`webhook_run`]: webhooks during a run (handler, registration, transfer pool).
//! - [`secrets`]: where keys and tokens come from, and how they are shown (redacted).
//! - [`signal`]: one shutdown future for Ctrl-C and SIGTERM.
//! - [`heap`]: the process's allocator (jemalloc) and its count of live bytes.
//! - [`exit`]: errors mapped to exit codes (0 pass, 1 a check failed, 2 usage, config
//!   or environment error).
//!
//! The twin itself is the `gauntlet-mock` crate; later parts (plan, load, measure,
//! handler, verdict, report, smoke) join as modules here.

pub mod boson;
pub mod calibrate;
pub mod cli;
pub mod client;
pub mod compare;
pub mod exit;
pub mod handler;
pub mod heap;
pub mod hlog;
pub mod load;
pub mod measure;
pub mod merge;
pub mod mock;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;
pub mod secrets;
pub mod segment;
pub mod signal;
pub mod smoke;
pub mod snapshots;
pub mod soak;
pub mod target;
pub mod twin_link;
pub mod verdict;
pub mod webhook_run;
