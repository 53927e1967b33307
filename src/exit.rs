//! Exit codes, and errors that know theirs.

/// Every check passed.
pub const PASS: u8 = 0;
/// A threshold, oracle check or regression failed.
pub const FAILED: u8 = 1;
/// Usage, configuration or environment error: nothing was judged. Also a failure
/// inside the harness itself (a load task that panicked): never the target's.
pub const USAGE: u8 = 2;
/// Interrupted (Ctrl-C or SIGTERM): the report is written, marked partial; also
/// when a second signal cut the drain short (128 + SIGINT, as shells expect).
pub const INTERRUPTED: u8 = 130;

/// The exit code of a command that judged something.
pub fn of_verdict(pass: bool) -> u8 {
    if pass { PASS } else { FAILED }
}

/// A usage, configuration or environment error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The run was cut short by a second Ctrl-C; what could be written was.
#[derive(Debug, thiserror::Error)]
#[error("interrupted twice: the drain was cut short; the report in {0} is partial")]
pub struct Interrupted(pub String);

/// The harness itself failed (not the target): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("the harness failed: {0}")]
pub struct HarnessError(pub String);

/// The exit code for an error that ended a command.
pub fn code_of(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<Interrupted>()) {
        return INTERRUPTED;
    }
    if err.chain().any(|e| {
        e.is::<HarnessError>()
            || e.is::<UsageError>()
            || e.is::<gauntlet_mock::ConfigError>()
            || e.is::<std::io::Error>()
    }) {
        USAGE
    } else {
        FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_failures_exit_2_and_a_double_interrupt_130() {
        let harness: anyhow::Error = HarnessError("a load task panicked".into()).into();
        assert_eq!(code_of(&harness), USAGE);
        let cut: anyhow::Error = Interrupted("reports/x".into()).into();
        assert_eq!(code_of(&cut.context("the run")), INTERRUPTED);
        assert_eq!(code_of(&anyhow::anyhow!("a check failed")), FAILED);
    }
}
