//! The action records behind `GET /ebus/actions/{id}`, kept compact: the twin
//! keeps up to a million of them (the default action capacity), so each is a
//! fixed 56 bytes in a ring indexed by its sequence. An action's id is
//! `act_{sequence}`, so the id is not stored and a lookup is arithmetic, not a
//! hash; organizations are interned; an object id of up to 24 bytes is kept
//! inline.

use std::collections::VecDeque;
use std::time::Duration;

use compact_str::CompactString;

/// An action's id, `act_{sequence}`, as a reply writes it: without building a
/// string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionId(pub u64);

impl serde::Serialize for ActionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("act_{}", self.0))
    }
}

/// The sequence an action id names (`act_{sequence}`), if it is one.
fn sequence_of(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("act_")?;
    // One spelling per sequence: no sign, no leading zeros.
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One applied action.
#[derive(Debug, Clone)]
pub struct Record {
    pub object: CompactString,
    pub batch: u64,
    pub checkpoint: u64,
    /// Twin time, nanoseconds.
    pub created_ns: u64,
    /// The organization, an index into [`Orgs`].
    pub org: u32,
    /// The action type, an index into [`super::ACTION_TYPES`].
    pub kind: u8,
}

impl Record {
    pub fn created_at(&self) -> Duration {
        Duration::from_nanos(self.created_ns)
    }
}

/// Organization names, interned (a twin serves a handful).
#[derive(Debug, Default)]
pub struct Orgs(Vec<String>);

impl Orgs {
    /// The index of `org`, interning it on first sight.
    pub fn intern(&mut self, org: &str) -> u32 {
        match self.find(org) {
            Some(i) => i,
            None => {
                self.0.push(org.to_string());
                (self.0.len() - 1) as u32
            }
        }
    }

    /// The index of `org`, if it was ever seen.
    pub fn find(&self, org: &str) -> Option<u32> {
        self.0.iter().position(|o| o == org).map(|i| i as u32)
    }

    pub fn name(&self, index: u32) -> &str {
        self.0.get(index as usize).map_or("", String::as_str)
    }
}

/// The last `capacity` applied actions, by sequence.
#[derive(Debug)]
pub struct Records {
    /// The sequence of `kept[0]`.
    first: u64,
    kept: VecDeque<Record>,
    capacity: usize,
}

impl Records {
    pub fn new(capacity: usize) -> Self {
        Self {
            first: 0,
            kept: VecDeque::new(),
            capacity,
        }
    }

    /// Keep the action applied with `sequence`; past the capacity the oldest
    /// goes. Sequences come in order; after a gap the older records are dropped
    /// (the ring stays contiguous).
    pub fn push(&mut self, sequence: u64, record: Record) {
        if self.kept.is_empty() || sequence != self.first + self.kept.len() as u64 {
            self.kept.clear();
            self.first = sequence;
        }
        if self.kept.len() >= self.capacity.max(1) {
            self.kept.pop_front();
            self.first += 1;
        }
        self.kept.push_back(record);
    }

    /// The record of action `id`, if it is still kept.
    pub fn get(&self, id: &str) -> Option<(u64, &Record)> {
        let seq = sequence_of(id)?;
        let at = seq.checked_sub(self.first)?;
        self.kept.get(usize::try_from(at).ok()?).map(|r| (seq, r))
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_id_names_its_sequence() {
        let id = serde_json::to_value(ActionId(42)).expect("serializes");
        assert_eq!(id, "act_42");
        assert_eq!(id.as_str().and_then(sequence_of), Some(42));
    }

    fn rec(object: &str) -> Record {
        Record {
            object: object.into(),
            batch: 1,
            checkpoint: 1,
            created_ns: 0,
            org: 0,
            kind: 0,
        }
    }

    #[test]
    fn a_record_is_56_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 56);
    }

    #[test]
    fn records_are_found_by_their_id_until_they_are_retired() {
        let mut r = Records::new(3);
        for seq in 1..=4 {
            r.push(seq, rec(&format!("obj_{seq}")));
        }
        assert_eq!(r.len(), 3);
        assert!(r.get("act_1").is_none(), "retired past the capacity");
        let (seq, found) = r.get("act_4").expect("kept");
        assert_eq!((seq, found.object.as_str()), (4, "obj_4"));
        for bad in [
            "act_5",
            "act_02",
            "act_+2",
            "act_",
            "2",
            "act_99999999999999999999",
        ] {
            assert!(r.get(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_gap_in_the_sequence_keeps_the_ring_contiguous() {
        let mut r = Records::new(10);
        r.push(1, rec("a"));
        r.push(2, rec("b"));
        r.push(7, rec("c"));
        assert!(r.get("act_2").is_none());
        assert_eq!(r.get("act_7").map(|(s, _)| s), Some(7));
    }

    #[test]
    fn organizations_are_interned_once() {
        let mut o = Orgs::default();
        let a = o.intern("org_a");
        assert_eq!(o.intern("org_b"), a + 1);
        assert_eq!(o.intern("org_a"), a);
        assert_eq!((o.name(a), o.find("org_c")), ("org_a", None));
    }
}
