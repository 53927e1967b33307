//! Hash tables that reach their size while a store fills, not later.
//!
//! A store bounded by age (keys retired after a horizon) churns: every insert is
//! matched by a removal. A hash table under churn grows once more after its live
//! count has settled: the removals leave tombstones, and when they use up the
//! free slots of a table more than half full, it doubles. That step comes at no
//! set time after the store is full, often in the middle of a soak's judged half,
//! where it reads as growth. [`grow_ahead`] gives the table room for twice its
//! live count whenever the count reaches a new high, so the table is at its final
//! size by the time the store is, and churn afterwards only rehashes in place.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// After an insert: if `map` holds more than ever before (`high` is the previous
/// high-water mark), make room for twice its live count.
pub fn grow_ahead<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>, high: &mut usize) {
    let len = map.len();
    if len <= *high {
        return;
    }
    *high = len;
    if map.capacity() < 2 * len {
        map.reserve(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_churning_table_at_its_high_water_mark_does_not_grow() {
        let mut map: HashMap<u64, u64> = HashMap::new();
        let mut high = 0;
        // Fill to 10,000 live entries, then churn: one in, the oldest out.
        for k in 0..10_000u64 {
            map.insert(k, k);
            grow_ahead(&mut map, &mut high);
        }
        let filled = map.capacity();
        assert!(filled >= 20_000, "room for twice the live count: {filled}");
        for k in 10_000..200_000u64 {
            map.insert(k, k);
            map.remove(&(k - 10_000));
            grow_ahead(&mut map, &mut high);
            assert!(map.capacity() <= filled, "grew under churn at {k}");
        }
    }

    #[test]
    fn without_it_churn_grows_the_table_after_the_store_is_full() {
        let mut map: HashMap<u64, u64> = HashMap::new();
        for k in 0..10_000u64 {
            map.insert(k, k);
        }
        let filled = map.capacity();
        for k in 10_000..200_000u64 {
            map.insert(k, k);
            map.remove(&(k - 10_000));
        }
        // The step `grow_ahead` moves to the fill: it happens here, later.
        assert!(map.capacity() > filled, "{} vs {filled}", map.capacity());
    }
}
