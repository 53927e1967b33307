//! Stored replies per (organization, `Idempotency-Key`): a repeat of the same request
//! gets the same reply and applies nothing; the same key with another body is
//! refused. Entries live `IDEMPOTENCY_TTL` on the twin clock; eviction follows expiry,
//! so a key is never forgotten early while the store is within its capacity.
//! Keys are kept as 16-byte digests, not as text.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

/// How long a stored reply is replayed: as long as the oracle's ledger keeps an
/// action (ten minutes), which every plan's retry budget must fit inside.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(10 * 60);
/// A memory guard only: 15 minutes of single-action requests at 2,000/s. Past it
/// the oldest keys go first, expired or not.
pub const IDEMPOTENCY_CAPACITY: usize = 2_000_000;

#[derive(Debug)]
struct Stored {
    request_hash: [u8; 32],
    status: u16,
    body: Bytes,
    expires_at: Duration,
}

/// The outcome of a lookup.
#[derive(Debug)]
pub enum Replay {
    /// No live stored reply: handle the request.
    Fresh,
    /// The stored reply to send again; nothing is applied.
    Stored { status: u16, body: Bytes },
    /// The key was used with another body.
    Mismatch,
}

/// A digest of (organization, key).
type Key = [u8; 16];

/// A fixed-size digest of an organization's idempotency key: stores count and
/// find keys without keeping their text.
pub fn key_digest(org: &str, key: &str) -> [u8; 16] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(org.as_bytes());
    h.update([0]);
    h.update(key.as_bytes());
    let full: [u8; 32] = h.finalize().into();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The store.
#[derive(Debug, Default)]
pub struct IdempotencyStore {
    entries: HashMap<Key, Stored, foldhash::fast::RandomState>,
    /// Keys in the order they were stored, with the expiry they were stored with:
    /// a key stored again later has a newer expiry, so a stale queue entry never
    /// evicts the live reply.
    order: VecDeque<(Key, Duration)>,
    /// The most entries held so far ([`crate::engine::table::grow_ahead`]).
    high: usize,
}

impl IdempotencyStore {
    /// Look up `(org, key)` at `now`.
    pub fn replay(
        &mut self,
        org: &str,
        key: &str,
        request_hash: &[u8; 32],
        now: Duration,
    ) -> Replay {
        let k = key_digest(org, key);
        match self.entries.get(&k) {
            Some(s) if s.expires_at <= now => {
                self.entries.remove(&k);
                Replay::Fresh
            }
            Some(s) if s.request_hash != *request_hash => Replay::Mismatch,
            Some(s) => Replay::Stored {
                status: s.status,
                body: s.body.clone(),
            },
            None => Replay::Fresh,
        }
    }

    /// Store the reply of a request that committed.
    pub fn store(
        &mut self,
        org: &str,
        key: &str,
        request_hash: [u8; 32],
        status: u16,
        body: Bytes,
        now: Duration,
    ) {
        self.evict(now);
        let k = key_digest(org, key);
        let expires_at = now + IDEMPOTENCY_TTL;
        self.order.push_back((k, expires_at));
        self.entries.insert(
            k,
            Stored {
                request_hash,
                status,
                body,
                expires_at,
            },
        );
        crate::engine::table::grow_ahead(&mut self.entries, &mut self.high);
    }

    /// Drop expired entries (and, past the capacity, the oldest).
    fn evict(&mut self, now: Duration) {
        while let Some((k, expires_at)) = self.order.front() {
            let over = self.order.len() >= IDEMPOTENCY_CAPACITY;
            if *expires_at > now && !over {
                break;
            }
            if self
                .entries
                .get(k)
                .is_some_and(|s| s.expires_at == *expires_at)
            {
                self.entries.remove(k);
            }
            self.order.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_key_stored_again_after_expiry_survives_its_stale_queue_entry() {
        let mut s = IdempotencyStore::default();
        s.store("o", "k", [1; 32], 200, Bytes::from_static(b"first"), T(0));
        assert!(matches!(
            s.replay("o", "k", &[1; 32], T(10)),
            Replay::Stored { .. }
        ));
        assert!(matches!(
            s.replay("o", "k", &[2; 32], T(10)),
            Replay::Mismatch
        ));
        assert!(
            matches!(s.replay("o", "k", &[1; 32], IDEMPOTENCY_TTL), Replay::Fresh),
            "expired"
        );
        s.store(
            "o",
            "k",
            [1; 32],
            200,
            Bytes::from_static(b"second"),
            IDEMPOTENCY_TTL,
        );
        // Evicting the first entry's queue slot must not drop the second reply.
        s.store(
            "o",
            "other",
            [3; 32],
            200,
            Bytes::new(),
            IDEMPOTENCY_TTL + T(1),
        );
        match s.replay("o", "k", &[1; 32], IDEMPOTENCY_TTL + T(2)) {
            Replay::Stored { body, .. } => assert_eq!(&body[..], b"second"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.len(), 2);
    }
}
