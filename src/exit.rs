//! Exit codes, and errors that know theirs.

/// Every check passed.
pub const PASS: u8 = 0;
/// A threshold, oracle check or regression failed.
pub const FAILED: u8 = 1;
/// Usage, configuration or environment error: nothing was judged.
pub const USAGE: u8 = 2;

/// The exit code of a command that judged something.
pub fn of_verdict(pass: bool) -> u8 {
    if pass { PASS } else { FAILED }
}

/// A usage, configuration or environment error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The exit code for an error that ended a command.
pub fn code_of(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| {
        e.is::<UsageError>() || e.is::<gauntlet_mock::ConfigError>() || e.is::<std::io::Error>()
    }) {
        USAGE
    } else {
        FAILED
    }
}
