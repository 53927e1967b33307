//! What a long run adds to a run: per-window verdicts ([`windows`]), stability
//! checks ([`stability`]), the target's outages and restarts ([`target`]) and
//! atomic snapshots of the run folder ([`save`]).

pub mod save;
pub mod stability;
pub mod target;
pub mod windows;
