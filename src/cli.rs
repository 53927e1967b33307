//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Load and chaos test harness for Dual and Boson Protocol integrations.
#[derive(Debug, Parser)]
#[command(name = "gauntlet", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the Dual twin for your own client: faults on a seeded schedule, an
    /// oracle that counts every applied action, a control API under /_gauntlet/.
    Mock(MockArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MockArgs {
    /// Address to listen on (loopback unless --allow-non-loopback).
    #[arg(long, env = "GAUNTLET_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Twin configuration (TOML): limits, keys, sequencer, fault rules.
    #[arg(long, env = "GAUNTLET_TWIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Seed for every random draw (overrides the config file).
    #[arg(long, env = "GAUNTLET_SEED")]
    pub seed: Option<u64>,
    /// Twin seconds per real second (overrides the config file).
    #[arg(long, env = "GAUNTLET_TIME_SCALE")]
    pub time_scale: Option<f64>,
    /// Listen on a non-loopback address. The control API shares the listener.
    #[arg(long)]
    pub allow_non_loopback: bool,
}
