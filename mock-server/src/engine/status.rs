//! `GET /_gauntlet/status`: who this twin process is and what it holds, for a
//! harness watching a long run. The instance id changes when the process restarts
//! (a reset keeps it), so a harness can tell "the twin forgot everything" from
//! "the twin lost my actions". The process figures are read from `/proc` where
//! there is one; elsewhere they are absent, never made up.

use std::time::Instant;

use serde::{Deserialize, Serialize};

/// One reading of the twin's process and bounded stores.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Status {
    /// Random per process: a different one means the twin restarted.
    pub instance: String,
    /// Since this process started, milliseconds of wall time.
    pub uptime_ms: u64,
    /// Resident memory of the twin's process, bytes (Linux only).
    pub rss_bytes: Option<u64>,
    /// Open file descriptors of the twin's process (Linux only).
    pub open_fds: Option<u64>,
    /// Entries kept on the fault tape now, and its bound.
    pub tape_entries: u64,
    pub tape_capacity: u64,
}

/// This process's identity, fixed at start.
#[derive(Debug)]
pub struct Identity {
    pub instance: String,
    pub started: Instant,
}

impl Identity {
    pub fn new() -> Self {
        Self {
            instance: super::secret::random_secret("twin_")[..21].to_string(),
            started: Instant::now(),
        }
    }
}

impl Default for Identity {
    fn default() -> Self {
        Self::new()
    }
}

/// Resident memory of this process, bytes, from `/proc/self/status` (`VmRSS`).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Open file descriptors of this process, from `/proc/self/fd`.
pub fn open_fds() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_differ_and_process_figures_are_read_where_there_is_proc() {
        assert_ne!(Identity::new().instance, Identity::new().instance);
        if std::path::Path::new("/proc/self/status").exists() {
            let before = open_fds().expect("fds");
            let f = std::fs::File::open("/proc/self/status").expect("open");
            assert!(open_fds().expect("fds") > before, "an open file is counted");
            drop(f);
            assert!(
                rss_bytes().expect("rss") > 1 << 20,
                "a test process holds over a MiB"
            );
        }
    }
}
