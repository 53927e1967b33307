//! The exactly-once ledger: per action fingerprint, how often it arrived and how often
//! it was applied; per idempotency key, how often its request was applied; and per
//! run tag, the same account for the load's own actions.

use std::collections::hash_map::Entry as Slot;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::effects::EFFECT_FIELD;
use crate::engine::idempotency::key_digest;

/// Maps keyed by digests: their keys are already uniform, so a fast hasher will do.
type DigestMap<V> = HashMap<[u8; 16], V, foldhash::fast::RandomState>;

/// The payload field the harness tags each action it offers with: `"run": "<run id>"`.
/// The per-run account counts only actions carrying it (and no [`EFFECT_FIELD`]:
/// webhook handler effects are the handler's work, not the load's).
pub const RUN_FIELD: &str = "run";
/// Runs accounted at most; when another starts, the oldest is forgotten (a twin
/// serves a few runs at a time; this bounds what a client can make it keep).
pub const MAX_RUNS: usize = 64;
/// Longest run tag accounted; a longer one is not a harness run id and is ignored.
pub const MAX_RUN_TAG: usize = 128;

/// The run tag of an action with this payload, if it is one of a run's own.
pub fn run_tag(payload: &serde_json::Value) -> Option<&str> {
    if payload.get(EFFECT_FIELD).is_some() {
        return None;
    }
    payload
        .get(RUN_FIELD)?
        .as_str()
        .filter(|t| t.len() <= MAX_RUN_TAG)
}

#[derive(Debug, Default, Clone, Copy)]
struct Entry {
    arrived: u32,
    applied: u32,
    rejected: bool,
    /// The run the action belongs to (an index into `Ledger::runs`), 0 for none.
    run: u32,
    /// Twin time at its first arrival, in tenths of a second: which part of a
    /// run's timeline it belongs to ([`Ledger::seconds`]).
    first_ds: u32,
}

/// What became of one action: the one classification both the whole ledger and
/// each run's account count by.
enum Fate {
    Rejected,
    Lost,
    Once,
    /// Applied this many times (more than once).
    Duplicated(u32),
}

impl Entry {
    fn fate(&self) -> Fate {
        match self.applied {
            0 if self.rejected => Fate::Rejected,
            0 => Fate::Lost,
            1 => Fate::Once,
            n => Fate::Duplicated(n),
        }
    }
}

/// How long the ledger keeps an action one by one after its first arrival;
/// then it is judged and retired into counts. Longer than any sane client keeps
/// retrying one action (a plan's client may retry for at most this, less its
/// timeout); a retry that comes later still is counted as a new action. Retiring
/// by age fills the ledger in the first ten minutes at any rate, so a soak's
/// memory is flat after that.
pub const RETIRE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Actions the ledger keeps one by one at most (a memory guard for rates past
/// 3,333 actions/s, where [`RETIRE_AFTER`] would keep more): past it the oldest
/// are retired early. A day's soak stays within bounded memory.
pub(super) const LEDGER_CAPACITY: usize = 2_000_000;
/// Idempotency keys kept one by one at most; older ones are retired into counts.
pub(super) const KEY_CAPACITY: usize = 1_000_000;

/// What retired entries came to: their share of every account.
#[derive(Debug, Default)]
struct Retired {
    counts: ActionCounts,
    runs: HashMap<u32, RunActions>,
    seconds: HashMap<u32, BTreeMap<u32, SecondCounts>>,
    keys: u64,
    keys_twice: u64,
}

/// An action's share of the whole ledger's counts.
fn book_counts(c: &mut ActionCounts, e: &Entry) {
    c.distinct += 1;
    c.applies += u64::from(e.applied);
    match e.fate() {
        Fate::Rejected => c.rejected += 1,
        Fate::Lost => c.lost += 1,
        Fate::Once => c.exactly_once += 1,
        Fate::Duplicated(n) => {
            c.duplicated += 1;
            c.extra_applies += u64::from(n - 1);
        }
    }
}

/// An action's share of its run's account.
fn book_run(r: &mut RunActions, e: &Entry) {
    r.arrived += 1;
    match e.fate() {
        Fate::Rejected => r.rejected += 1,
        Fate::Lost => r.lost += 1,
        Fate::Once => r.applied += 1,
        Fate::Duplicated(_) => {
            r.applied += 1;
            r.duplicated += 1;
        }
    }
}

/// A lost or duplicated action's share of its run's tenths of a second.
fn book_second(m: &mut BTreeMap<u32, SecondCounts>, e: &Entry) {
    let (lost, duplicated) = match e.fate() {
        Fate::Lost => (1, 0),
        Fate::Duplicated(_) => (0, 1),
        Fate::Rejected | Fate::Once => return,
    };
    let c = m.entry(e.first_ds).or_insert(SecondCounts {
        tenth: e.first_ds,
        ..SecondCounts::default()
    });
    c.lost += lost;
    c.duplicated += duplicated;
}

/// The ledger's state (behind the oracle's lock).
#[derive(Debug)]
pub(super) struct Ledger {
    actions: DigestMap<Entry>,
    /// Fingerprints in order of first sight, for retiring the oldest.
    order: VecDeque<[u8; 16]>,
    capacity: usize,
    /// Applies per idempotency key, by a digest of (organization, key).
    keys: DigestMap<u32>,
    /// Keys in order of first apply, with its time (tenths of a second).
    key_order: VecDeque<([u8; 16], u32)>,
    key_capacity: usize,
    retired: Retired,
    /// The latest arrival's time (tenths of a second), for entries first seen
    /// in an outcome.
    last_ds: u32,
    replays: u64,
    key_mismatches: u64,
    /// Runs in order of first sight, at most [`MAX_RUNS`]: (index, tag).
    runs: VecDeque<(u32, String)>,
    run_index: HashMap<String, u32>,
    last_run: u32,
}

/// One run's account of its own actions (those tagged with its id), under
/// `runs.<id>` in the oracle view: the exactly-once verdict for the load alone,
/// apart from setup traffic, webhook effects and other runs on the same twin.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct RunActions {
    /// Distinct actions of the run that reached the twin.
    pub arrived: u64,
    /// Of those, applied at least once.
    pub applied: u64,
    /// Applied more than once.
    pub duplicated: u64,
    /// Never applied and refused with a final 4xx (never due).
    pub rejected: u64,
    /// Arrived, never applied, never finally rejected: the run's lost actions.
    pub lost: u64,
}

/// One tenth of a second of twin time in which some of a run's actions that were
/// lost or duplicated first arrived (`GET /_gauntlet/oracle`, `run_seconds`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct SecondCounts {
    /// Twin time in tenths of a second.
    pub tenth: u32,
    pub lost: u32,
    pub duplicated: u32,
}

/// Twin time in tenths of a second (saturating: 13 years fit).
pub(super) fn tenths(t: Duration) -> u32 {
    (t.as_millis() / 100).min(u128::from(u32::MAX)) as u32
}

/// The ledger's verdict on actions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct ActionCounts {
    /// Distinct actions that reached the twin.
    pub distinct: u64,
    /// Applies in total (a duplicate counts each time).
    pub applies: u64,
    pub exactly_once: u64,
    /// Actions applied more than once.
    pub duplicated: u64,
    /// Applies beyond the first, summed over duplicated actions.
    pub extra_applies: u64,
    /// Arrived, never applied, not finally rejected.
    pub lost: u64,
    /// Refused with a final 4xx (not due).
    pub rejected: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
pub struct KeyCounts {
    /// Idempotency keys whose request was applied.
    pub keys: u64,
    /// Keys applied more than once (a stored reply expired and the key came back).
    pub applied_twice: u64,
    /// Requests answered from a stored reply.
    pub replays: u64,
    /// Keys reused with another body (answered 422).
    pub mismatches: u64,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::with_capacity(LEDGER_CAPACITY, KEY_CAPACITY)
    }
}

impl Ledger {
    pub(super) fn with_capacity(capacity: usize, key_capacity: usize) -> Self {
        Self {
            actions: DigestMap::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            keys: DigestMap::default(),
            key_order: VecDeque::new(),
            key_capacity: key_capacity.max(1),
            retired: Retired::default(),
            last_ds: 0,
            replays: 0,
            key_mismatches: 0,
            runs: VecDeque::new(),
            run_index: HashMap::new(),
            last_run: 0,
        }
    }

    /// The entry of `fp`, made (retiring the oldest when full) if new.
    fn entry(&mut self, fp: [u8; 16]) -> &mut Entry {
        if !self.actions.contains_key(&fp) {
            self.make_room(1);
            self.order.push_back(fp);
        }
        let first_ds = self.last_ds;
        self.actions.entry(fp).or_insert(Entry {
            first_ds,
            ..Entry::default()
        })
    }

    /// Retire the oldest entries until `new` more fit in the capacity.
    fn make_room(&mut self, new: usize) {
        while self.actions.len() + new > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(e) = self.actions.remove(&old) {
                self.retire(&e);
            }
        }
    }

    /// Retire the actions first seen before `ds` (tenths of a second); the
    /// order is by first sight, so they are at its front.
    fn retire_older_than(&mut self, ds: u32) {
        while let Some(old) = self.order.front() {
            match self.actions.get(old) {
                Some(e) if e.first_ds >= ds => break,
                Some(_) => {
                    if let Some(e) = self.actions.remove(old) {
                        self.retire(&e);
                    }
                }
                None => {}
            }
            self.order.pop_front();
        }
    }

    fn retire(&mut self, e: &Entry) {
        book_counts(&mut self.retired.counts, e);
        if e.run != 0 {
            book_run(self.retired.runs.entry(e.run).or_default(), e);
            book_second(self.retired.seconds.entry(e.run).or_default(), e);
        }
    }

    /// These actions arrived, each with its run tag if it has one.
    ///
    /// A batch is booked in passes: every fingerprint is looked up first, and
    /// those seen before counted (the lookups are independent, so their cache
    /// misses overlap); room is made for the new ones at once; then each new
    /// one is booked.
    pub(super) fn arrived<'a>(
        &mut self,
        actions: impl IntoIterator<Item = ([u8; 16], Option<&'a str>)>,
        now: Duration,
    ) {
        self.last_ds = tenths(now);
        self.retire_older_than(self.last_ds.saturating_sub(tenths(RETIRE_AFTER)));
        let mut new = Vec::new();
        for (fp, tag) in actions {
            match self.actions.get_mut(&fp) {
                Some(e) => e.arrived += 1,
                None => new.push((fp, tag)),
            }
        }
        // The ones seen before are booked already, so retiring the oldest
        // here cannot lose one of this batch's arrivals.
        self.make_room(new.len());
        let first_ds = self.last_ds;
        for (fp, tag) in new {
            // A fingerprint twice in one batch was counted new twice: room
            // for it was made already, and its second sight finds it.
            let run = tag.map_or(0, |t| self.run(t));
            match self.actions.entry(fp) {
                Slot::Occupied(mut e) => e.get_mut().arrived += 1,
                Slot::Vacant(v) => {
                    v.insert(Entry {
                        arrived: 1,
                        run,
                        first_ds,
                        ..Entry::default()
                    });
                    self.order.push_back(fp);
                }
            }
        }
    }

    /// The index of run `tag`, starting it (and forgetting the oldest) if new.
    fn run(&mut self, tag: &str) -> u32 {
        if let Some(i) = self.run_index.get(tag) {
            return *i;
        }
        if self.runs.len() >= MAX_RUNS
            && let Some((_, old)) = self.runs.pop_front()
        {
            self.run_index.remove(&old);
        }
        self.last_run += 1;
        self.runs.push_back((self.last_run, tag.to_string()));
        self.run_index.insert(tag.to_string(), self.last_run);
        self.last_run
    }

    /// The account of each run still remembered.
    pub(super) fn runs(&self) -> BTreeMap<String, RunActions> {
        let mut by_index: HashMap<u32, RunActions> = self
            .runs
            .iter()
            .map(|(i, _)| (*i, self.retired.runs.get(i).cloned().unwrap_or_default()))
            .collect();
        for e in self.actions.values().filter(|e| e.run != 0) {
            if let Some(r) = by_index.get_mut(&e.run) {
                book_run(r, e);
            }
        }
        self.runs
            .iter()
            .filter_map(|(i, tag)| Some((tag.clone(), by_index.remove(i)?)))
            .collect()
    }

    /// Where each run's lost and duplicated actions first arrived: per tenth of a
    /// second of twin time, only those that have any, oldest first. A long run's
    /// account by window.
    pub(super) fn seconds(&self) -> BTreeMap<String, Vec<SecondCounts>> {
        let mut by_index: HashMap<u32, BTreeMap<u32, SecondCounts>> = self.retired.seconds.clone();
        for e in self.actions.values().filter(|e| e.run != 0) {
            book_second(by_index.entry(e.run).or_default(), e);
        }
        self.runs
            .iter()
            .filter_map(|(i, tag)| {
                let m = by_index.remove(i)?;
                (!m.is_empty()).then(|| (tag.clone(), m.into_values().collect()))
            })
            .collect()
    }

    /// Book the outcomes of a handled request; returns how many actions were applied.
    pub(super) fn outcomes(
        &mut self,
        results: &[([u8; 16], Result<(), bool>)],
        key: Option<(&str, &str)>,
    ) -> u32 {
        let mut applied = 0;
        for (fp, r) in results {
            let e = match self.actions.get_mut(fp) {
                Some(e) => e,
                None => self.entry(*fp),
            };
            match r {
                Ok(()) => {
                    e.applied += 1;
                    applied += 1;
                }
                Err(true) => e.rejected = true,
                Err(false) => {}
            }
        }
        if applied > 0
            && let Some((org, k)) = key
        {
            self.key_applied(key_digest(org, k));
        }
        applied
    }

    /// A request under this key was applied. Keys first applied longer than
    /// [`RETIRE_AFTER`] ago are retired into counts, and the oldest when full.
    fn key_applied(&mut self, key: [u8; 16]) {
        if let Some(n) = self.keys.get_mut(&key) {
            *n += 1;
            return;
        }
        let horizon = self.last_ds.saturating_sub(tenths(RETIRE_AFTER));
        while let Some((old, ds)) = self.key_order.front().copied() {
            if self.keys.len() < self.key_capacity && ds >= horizon {
                break;
            }
            self.key_order.pop_front();
            if let Some(n) = self.keys.remove(&old) {
                self.retired.keys += 1;
                self.retired.keys_twice += u64::from(n > 1);
            }
        }
        self.key_order.push_back((key, self.last_ds));
        self.keys.insert(key, 1);
    }

    pub(super) fn replayed(&mut self) {
        self.replays += 1;
    }

    pub(super) fn key_mismatch(&mut self) {
        self.key_mismatches += 1;
    }

    pub(super) fn counts(&self) -> ActionCounts {
        let mut c = self.retired.counts.clone();
        for e in self.actions.values() {
            book_counts(&mut c, e);
        }
        c
    }

    pub(super) fn keys(&self) -> KeyCounts {
        KeyCounts {
            keys: self.keys.len() as u64 + self.retired.keys,
            applied_twice: self.keys.values().filter(|n| **n > 1).count() as u64
                + self.retired.keys_twice,
            replays: self.replays,
            mismatches: self.key_mismatches,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tagged(l: &mut Ledger, fp: u8, payload: serde_json::Value) -> [u8; 16] {
        l.arrived(
            [([fp; 16], run_tag(&payload))],
            Duration::from_secs(u64::from(fp)),
        );
        [fp; 16]
    }

    #[test]
    fn a_run_counts_only_its_own_actions() {
        let mut l = Ledger::default();
        let applied = tagged(&mut l, 1, json!({ "run": "r1", "n": 1 }));
        let twice = tagged(&mut l, 2, json!({ "run": "r1", "n": 2 }));
        let given_up = tagged(&mut l, 3, json!({ "run": "r1", "n": 3 }));
        let refused = tagged(&mut l, 4, json!({ "run": "r1", "n": 4 }));
        let untagged = tagged(&mut l, 5, json!({ "n": 5 }));
        let effect = tagged(&mut l, 6, json!({ "run": "r1", "effect_of": "k" }));
        let other = tagged(&mut l, 7, json!({ "run": "r2" }));
        l.outcomes(
            &[
                (applied, Ok(())),
                (twice, Ok(())),
                (twice, Ok(())),
                (given_up, Err(false)),
                (refused, Err(true)),
                (untagged, Err(false)),
                (effect, Err(false)),
                (other, Ok(())),
            ],
            None,
        );
        let seconds = l.seconds();
        let r1_seconds = [
            SecondCounts {
                tenth: 20,
                lost: 0,
                duplicated: 1,
            },
            SecondCounts {
                tenth: 30,
                lost: 1,
                duplicated: 0,
            },
        ];
        assert_eq!(
            seconds.get("r1").map(Vec::as_slice),
            Some(&r1_seconds[..]),
            "{seconds:?}"
        );
        let runs = l.runs();
        let r1 = RunActions {
            arrived: 4,
            applied: 2,
            duplicated: 1,
            rejected: 1,
            lost: 1,
        };
        assert_eq!(runs.get("r1"), Some(&r1), "{runs:?}");
        assert_eq!(runs.len(), 2, "untagged actions start no run: {runs:?}");
        assert_eq!(l.counts().lost, 3, "the whole ledger still counts them");
    }

    /// A full ledger retires its oldest actions into counts: every account is
    /// the same as an unbounded ledger's, in bounded memory.
    #[test]
    fn a_full_ledger_retires_the_oldest_and_keeps_every_account() {
        // As the twin does: each request's actions arrive, then its outcomes.
        let play = |l: &mut Ledger| {
            let mut last = [0u8; 16];
            for i in 0..10u8 {
                let fp = tagged(l, i, json!({ "run": "r1", "n": i }));
                // 0..4 once, 4..6 twice, 6..8 lost, 8 refused, 9 once.
                let r: Vec<([u8; 16], Result<(), bool>)> = match i {
                    0..=3 | 9 => vec![(fp, Ok(()))],
                    4 | 5 => vec![(fp, Ok(())), (fp, Ok(()))],
                    6 | 7 => vec![(fp, Err(false))],
                    _ => vec![(fp, Err(true))],
                };
                let key = format!("k{i}");
                l.outcomes(&r, Some(("org", key.as_str())));
                last = fp;
            }
            // The newest action and key again, within the horizon: a duplicate.
            l.outcomes(&[(last, Ok(()))], Some(("org", "k9")));
        };
        let (mut small, mut big) = (Ledger::with_capacity(3, 2), Ledger::default());
        play(&mut small);
        play(&mut big);
        assert!(small.actions.len() <= 3 && small.keys.len() <= 2, "bounded");
        assert_eq!(small.counts(), big.counts());
        assert_eq!(small.runs(), big.runs());
        assert_eq!(small.seconds(), big.seconds());
        assert_eq!(small.keys(), big.keys());
        assert_eq!(big.counts().duplicated, 3, "4 and 5, and 9 again");
        assert_eq!(big.keys().applied_twice, 1);
    }

    /// A batch arriving into a full ledger is booked in passes (looked up, room
    /// made, counted): the ledger stays at its capacity, a fingerprint twice in
    /// the batch is one action that arrived twice, and the accounts match an
    /// unbounded ledger's.
    #[test]
    fn a_batch_into_a_full_ledger_stays_bounded_and_counts_a_repeat_once() {
        let play = |l: &mut Ledger| {
            let t = Duration::from_secs(1);
            let first: Vec<_> = (0..6u8).map(|i| ([i; 16], Some("r1"))).collect();
            l.arrived(first, t);
            // Two of the newest again, three new, one of them twice.
            let batch = [[4u8; 16], [5; 16], [7; 16], [8; 16], [7; 16], [9; 16]];
            l.arrived(batch.iter().map(|fp| (*fp, Some("r1"))), t);
            let applied: Vec<_> = batch.iter().map(|fp| (*fp, Ok(()))).collect();
            l.outcomes(&applied, None);
        };
        let (mut small, mut big) = (Ledger::with_capacity(6, 2), Ledger::default());
        play(&mut small);
        play(&mut big);
        assert!(small.actions.len() <= 6, "bounded: {}", small.actions.len());
        assert_eq!(
            small.order.len(),
            small.actions.len(),
            "one order entry each"
        );
        assert_eq!(small.counts(), big.counts());
        assert_eq!(small.runs(), big.runs());
        let c = big.counts();
        assert_eq!((c.distinct, c.lost, c.duplicated), (9, 4, 1), "{c:?}");
        assert_eq!(big.actions[&[7; 16]].arrived, 2, "twice in one batch");
    }

    /// Actions first seen longer than [`RETIRE_AFTER`] ago are retired into
    /// counts: the ledger holds only the last ten minutes, the account is whole.
    #[test]
    fn old_actions_retire_by_age() {
        let mut l = Ledger::default();
        let at = |s: u64| Duration::from_secs(s);
        l.arrived([([1; 16], Some("r1"))], at(0));
        l.outcomes(&[([1; 16], Ok(())), ([1; 16], Ok(()))], None);
        l.arrived([([2; 16], Some("r1"))], at(100));
        l.arrived([([3; 16], Some("r1"))], at(RETIRE_AFTER.as_secs() + 50));
        assert_eq!(l.actions.len(), 2, "the first is past the horizon");
        l.arrived([([4; 16], Some("r1"))], at(RETIRE_AFTER.as_secs() + 101));
        assert_eq!(l.actions.len(), 2, "and the second");
        let c = l.counts();
        assert_eq!((c.distinct, c.duplicated, c.lost), (4, 1, 3), "{c:?}");
        let r1 = &l.runs()["r1"];
        assert_eq!((r1.arrived, r1.duplicated, r1.lost), (4, 1, 3), "{r1:?}");
    }

    #[test]
    fn the_oldest_run_is_forgotten() {
        let mut l = Ledger::default();
        for i in 0..=MAX_RUNS {
            tagged(&mut l, i as u8, json!({ "run": format!("r{i}") }));
        }
        let runs = l.runs();
        assert_eq!(runs.len(), MAX_RUNS);
        assert!(!runs.contains_key("r0") && runs.contains_key(&format!("r{MAX_RUNS}")));
        assert_eq!(
            run_tag(&json!({ "run": "x".repeat(MAX_RUN_TAG + 1) })),
            None
        );
    }
}
