//! The fault tape: every injection, bounded in memory (the newest entries kept,
//! counts kept forever), read as JSON pages or exported as JSON Lines.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// One injected fault. Its fields serialize in this order (the JSON Lines export
/// relies on it, so two tapes diff line by line); none holds a secret: paths carry
/// no query, and a webhook URL is kept without its credentials and query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TapeEntry {
    /// Request number since start (the key of the request's random stream).
    pub seq: u64,
    /// Twin time of the request, milliseconds since start.
    pub at_ms: f64,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub rule: String,
    pub kind: &'static str,
    /// The operation the fault was drawn for, `"<12 hex digits>/<attempt>"`: a digest
    /// of what the request is (its idempotency key, else its body, with organization,
    /// method and path) and which attempt of it. Its faults are drawn from a stream
    /// keyed by this, so two runs of one seed diff equal on it whatever the arrival
    /// order. Empty for webhook deliveries (left out of the JSON then).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
}

/// Longest path kept on the tape (a client controls the path).
pub const MAX_TAPE_PATH: usize = 200;

/// Bounded memory: the newest `capacity` entries are kept, counts are kept forever.
#[derive(Debug)]
pub struct Tape {
    capacity: usize,
    inner: Mutex<TapeInner>,
}

#[derive(Debug, Default)]
struct TapeInner {
    entries: VecDeque<TapeEntry>,
    dropped: u64,
    by_kind: BTreeMap<&'static str, u64>,
}

/// What `GET /_gauntlet/tape` returns.
#[derive(Debug, Serialize)]
pub struct TapeView {
    pub total: u64,
    /// Older entries pushed out of the bounded tape.
    pub dropped: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
    pub entries: Vec<TapeEntry>,
}

impl Tape {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // Its whole length at once: the buffer is filled in order, so its pages
        // become resident as entries arrive, and it never doubles mid-run.
        let entries = VecDeque::with_capacity(capacity.min(1_000_000));
        Self {
            capacity,
            inner: Mutex::new(TapeInner {
                entries,
                ..TapeInner::default()
            }),
        }
    }

    pub(super) fn push(&self, entry: TapeEntry) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *t.by_kind.entry(entry.kind).or_default() += 1;
        if t.entries.len() == self.capacity {
            t.entries.pop_front();
            t.dropped += 1;
        }
        t.entries.push_back(entry);
    }

    /// Entries kept now, and the most that are kept.
    pub fn fill(&self) -> (usize, usize) {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (t.entries.len(), self.capacity)
    }

    /// Entries with `seq >= since`, at most `limit`.
    pub fn view(&self, since: u64, limit: usize) -> TapeView {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        TapeView {
            total: t.by_kind.values().sum(),
            dropped: t.dropped,
            by_kind: t.by_kind.clone(),
            entries: t
                .entries
                .iter()
                .filter(|e| e.seq >= since)
                .take(limit)
                .cloned()
                .collect(),
        }
    }

    /// Every kept entry with `seq >= since` as JSON Lines: one object per line, in
    /// sequence order (entries of one request keep the order they were recorded in).
    pub fn jsonl(&self, since: u64) -> String {
        let mut entries: Vec<TapeEntry> = {
            let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            t.entries
                .iter()
                .filter(|e| e.seq >= since)
                .cloned()
                .collect()
        };
        // Requests are numbered on arrival but decided after their body is read,
        // so the tape's own order is only nearly by sequence; the sort is stable.
        entries.sort_by_key(|e| e.seq);
        let mut out = String::with_capacity(entries.len() * 160);
        for e in &entries {
            // A struct of strings and numbers always serializes.
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = TapeInner::default();
    }
}

/// A webhook URL as the tape keeps it: scheme, host, port and path; the user
/// information, query and fragment (where a receiver's credentials would sit) go.
pub fn tape_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jsonl_tape_is_in_sequence_order() {
        let tape = Tape::new(10);
        for seq in [3, 1, 2, 1] {
            tape.push(TapeEntry {
                seq,
                at_ms: 0.0,
                request_id: format!("req_{seq}"),
                method: "GET".into(),
                path: "/x".into(),
                rule: format!("r{}", tape.view(0, 10).entries.len()),
                kind: "reset",
                op: String::new(),
            });
        }
        let text = tape.jsonl(0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[0].starts_with(r#"{"seq":1,"at_ms":0.0,"request_id":"req_1","method":"GET","path":"/x","rule":"r1","kind":"reset"}"#),
            "{text}"
        );
        let order: Vec<(u64, String)> = lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                (
                    v["seq"].as_u64().unwrap_or(0),
                    v["rule"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want = [(1, "r1"), (1, "r3"), (2, "r2"), (3, "r0")];
        assert_eq!(order, want.map(|(s, r)| (s, r.to_string())));
        assert_eq!(tape.jsonl(3).lines().count(), 1, "since");
    }

    #[test]
    fn tape_urls_keep_no_credentials() {
        for (url, want) in [
            (
                "https://u:pw@hooks.example/h?token=t#f",
                "https://hooks.example/h",
            ),
            ("http://127.0.0.1:9/hook", "http://127.0.0.1:9/hook"),
            ("http://a@b@host", "http://host"),
            ("http://host?key=k", "http://host"),
        ] {
            assert_eq!(tape_url(url), want, "{url}");
        }
    }
}
