//! The process's allocator, and its own count of what the heap holds.
//!
//! jemalloc, for what the soak measured: under glibc's malloc a 30-minute soak's
//! resident memory kept creeping after every store had reached its bound (memory
//! freed in one arena stayed with the process), and its malloc and free took about
//! a third of the twin's time at full ingest. jemalloc gives freed pages back
//! after its decay time, and counts its live bytes, so a report can tell growth
//! the heap holds from memory the allocator keeps.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The bytes the program holds in live allocations (jemalloc's `stats.allocated`,
/// refreshed first); None when the allocator does not answer.
pub fn allocated_bytes() -> Option<u64> {
    tikv_jemalloc_ctl::epoch::advance().ok()?;
    tikv_jemalloc_ctl::stats::allocated::read()
        .ok()
        .map(|b| b as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_allocation_is_counted_and_its_release_is_too() {
        let before = allocated_bytes().expect("jemalloc answers");
        let block = vec![1u8; 256 << 20];
        let held = allocated_bytes().expect("jemalloc answers");
        assert!(held >= before + (255 << 20), "{before} -> {held}");
        drop(block);
        let after = allocated_bytes().expect("jemalloc answers");
        assert!(after + (128 << 20) < held, "{held} -> {after}");
    }
}
