//! The trace log: every request that carries a W3C `traceparent`, whatever the
//! platform or path (Dual's API, Boson's JSON-RPC and subgraph, the relayer), with
//! what it was answered, so one canonical request of a client can be followed
//! across the twin (`GET /_gauntlet/traces?trace_id=...`). Bounded: the newest
//! [`TRACES_KEPT`] entries.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Entries kept, at most.
pub const TRACES_KEPT: usize = 20_000;

/// One traced request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TraceEntry {
    pub trace_id: String,
    /// The caller's span (`parent-id` of the header).
    pub parent_id: String,
    pub at_ms: u64,
    pub request_id: String,
    pub method: String,
    /// The route template (Dual), `/rpc`, the subgraph's path, or the relayer's.
    pub route: String,
    /// The HTTP status answered; 0 when the reply was dropped.
    pub status: u16,
}

/// A `traceparent` header's trace and parent ids, if it is well formed
/// (`00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero).
pub fn parse(header: &str) -> Option<(String, String)> {
    let mut parts = header.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = parts.next().is_none()
        && hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    ok.then(|| (trace.to_ascii_lowercase(), parent.to_ascii_lowercase()))
}

/// The log.
#[derive(Debug, Default)]
pub struct Traces {
    entries: Mutex<VecDeque<TraceEntry>>,
}

impl Traces {
    pub fn record(&self, e: TraceEntry) {
        let mut q = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= TRACES_KEPT {
            q.pop_front();
        }
        q.push_back(e);
    }

    /// The entries of one trace, oldest first.
    pub fn of(&self, trace_id: &str) -> Vec<TraceEntry> {
        let want = trace_id.to_ascii_lowercase();
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|e| e.trace_id == want)
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_traceparents_are_taken() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse(good),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into()
            ))
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
