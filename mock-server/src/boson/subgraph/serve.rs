//! The subgraph on the platform: which block the index stands at, the entities at
//! a pinned block (cached per block hash), and graph-node's errors for a block it
//! has not indexed, has pruned, or never saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::B256;

use super::{IndexedBlock, Pin, PinError, Store, Subgraph};
use crate::boson::chain::Chain;
use crate::boson::platform::BosonPlatform;

/// The last store built, by the hash of its block.
#[derive(Debug, Default)]
pub struct StoreCache(Mutex<Option<(B256, Arc<Store>)>>);

impl BosonPlatform {
    /// The block the subgraph has indexed at twin time `now` (never past the chain).
    pub fn indexed_head(&self, chain: &Chain, now: Duration) -> u64 {
        self.boson.indexed_head(now).min(chain.head_number())
    }

    /// The entities a query pinned to `pin` reads, at twin time `now`.
    pub fn subgraph_store(&self, now: Duration, pin: &Pin) -> Result<Arc<Store>, PinError> {
        let chain = self.boson.chain_at(now, self.faults());
        let indexed = self.indexed_head(&chain, now);
        let number = match pin {
            Pin::Latest => indexed,
            Pin::Number(n) if *n > indexed => {
                return Err(PinError::not_yet("block.number", indexed, *n));
            }
            Pin::Number(n) => *n,
            Pin::NumberGte(n) if *n > indexed => {
                return Err(PinError::not_yet("block.number_gte", indexed, *n));
            }
            Pin::NumberGte(_) => indexed,
            Pin::Hash(h) => {
                let n = h
                    .parse::<B256>()
                    .ok()
                    .and_then(|h| chain.block_by_hash(&h))
                    .map(|b| b.number())
                    .ok_or_else(PinError::unknown_hash)?;
                if n > indexed {
                    return Err(PinError::not_yet("block.number", indexed, n));
                }
                n
            }
        };
        let block = chain.block(number).ok_or_else(PinError::unknown_hash)?;
        let cached = self.store_cache.0.lock().ok().and_then(|c| c.clone());
        if let Some((hash, store)) = &cached
            && *hash == block.hash
        {
            return Ok(store.clone());
        }
        let earliest = chain
            .head_number()
            .saturating_sub(chain.config.max_reorg_depth as u64);
        let world = chain
            .state_at(number)
            .ok_or_else(|| PinError::pruned(earliest, number))?;
        let store = Store::build_after(
            &world.protocol,
            IndexedBlock {
                number,
                hash: format!("{:#x}", block.hash),
                parent_hash: format!("{:#x}", block.header.parent_hash),
                timestamp: block.timestamp(),
            },
            cached.map(|c| c.1),
        )
        .with_logs(super::logs::Source::new(&chain, number, &world.protocol));
        let store = Arc::new(store);
        if let Ok(mut c) = self.store_cache.0.lock() {
            *c = Some((block.hash, store.clone()));
        }
        Ok(store)
    }

    /// Answer a GraphQL request body at twin time `now`.
    pub async fn subgraph_answer(&self, subgraph: &Subgraph, body: &[u8]) -> serde_json::Value {
        let now = self.engine.clock.now();
        let reads = self.boson.chain().actions.reads.clone();
        subgraph
            .answer(body, |pin| self.subgraph_store(now, pin), reads)
            .await
    }
}
