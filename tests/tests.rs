//! gauntlet's integration tests: one binary, a module per area (ripgrep's layout).

// Items here are shared between the test modules of one binary, never exported.
#![allow(unreachable_pub)]

mod util;

mod auth;
mod backoff;
mod bad_input;
mod balance;
mod boson;
mod boson_chain;
mod boson_load;
mod browser;
mod calibrate;
mod chain_events;
mod cli;
mod client;
mod compare;
mod control;
mod deploy;
mod ebus;
mod faults;
mod handler;
mod lifecycle;
mod oracle;
mod relayer;
mod replay;
mod report;
mod resources;
mod rules;
mod run;
mod runs;
mod scale;
mod seeds;
mod signals;
mod smoke;
mod soak;
mod subgraph;
mod webhooks;
