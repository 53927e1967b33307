//! Installed filters (`eth_newFilter`, `eth_newBlockFilter`): each reads the
//! chain's notices from its own cursor. Like geth's, a filter not polled for five
//! minutes (twin time) is gone.

use std::collections::HashMap;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::rpc::types::eth::Filter;

/// A filter not polled for this long is removed (geth's `filters.Config.Timeout`).
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Filters installed at once, at most.
pub const MAX_FILTERS: usize = 10_000;

/// What a filter watches.
#[derive(Debug, Clone)]
pub enum Watch {
    Logs(Box<Filter>),
    Blocks,
}

/// One installed filter.
#[derive(Debug, Clone)]
pub struct Installed {
    pub watch: Watch,
    /// The next notice this filter has not seen.
    pub cursor: u64,
    /// Twin time of the last poll (or install).
    pub polled: Duration,
}

/// The filter registry.
#[derive(Debug, Default)]
pub struct Filters {
    next: u64,
    installed: HashMap<U256, Installed>,
}

impl Filters {
    /// Install a filter reading from `cursor`; `None` when too many are installed.
    pub fn install(&mut self, watch: Watch, cursor: u64, now: Duration) -> Option<U256> {
        self.expire(now);
        if self.installed.len() >= MAX_FILTERS {
            return None;
        }
        self.next += 1;
        // Ids look like geth's: random-looking 128-bit quantities.
        let id =
            U256::from(self.next) * U256::from(0x9e37_79b9_7f4a_7c15u64) + U256::from(0x1000u64);
        self.installed.insert(
            id,
            Installed {
                watch,
                cursor,
                polled: now,
            },
        );
        Some(id)
    }

    /// Take a filter for a poll (updating its poll time), if it still exists.
    pub fn poll(&mut self, id: U256, now: Duration) -> Option<&mut Installed> {
        self.expire(now);
        let f = self.installed.get_mut(&id)?;
        f.polled = now;
        Some(f)
    }

    pub fn uninstall(&mut self, id: U256) -> bool {
        self.installed.remove(&id).is_some()
    }

    fn expire(&mut self, now: Duration) {
        self.installed
            .retain(|_, f| now.saturating_sub(f.polled) < FILTER_TIMEOUT);
    }

    pub fn len(&self) -> usize {
        self.installed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.installed.is_empty()
    }
}
