//! The chain's history horizon. A node that kept every block body forever would
//! make a day's soak grow without bound, so the twin does what a pruning node
//! does: bodies (transactions, effects, logs) of blocks older than the horizon
//! are dropped and their headers kept. Reads that need a pruned body answer as
//! geth answers for expired history ([`PRUNED_CODE`], "pruned history
//! unavailable"); receipts and transactions there are not found (`null`), as on
//! a node whose transaction index no longer reaches them.
//!
//! The horizon is `history` of twin time behind the head, and never fewer than
//! [`Chain::min_kept`] blocks: the reorg depth, the `finalized` head and the
//! exchange lookback all stay in reach. Pruned blocks are handed out once
//! ([`Chain::take_pruned`]) so the oracle can fold them into its archive.

use std::sync::Arc;

use alloy::primitives::B256;

use super::actions::LOOKBACK;
use super::{Block, Chain};

/// The JSON-RPC error code geth gives for history it no longer holds (EIP-4444).
pub const PRUNED_CODE: i64 = 4444;
/// Its message.
pub const PRUNED_MESSAGE: &str = "pruned history unavailable";
/// Blocks pruned between trims of the transaction index.
const TRIM_EVERY: u64 = 64;

impl Chain {
    /// Blocks always kept whole behind the head, whatever the horizon.
    pub fn min_kept(&self) -> u64 {
        LOOKBACK
            .max(self.config.max_reorg_depth as u64 + 1)
            .max(self.config.finalized_depth + 1)
            .max(self.config.safe_depth + 1)
    }

    /// The first block whose body is kept: every block below it is a header only.
    pub fn pruned_below(&self) -> u64 {
        self.pruned_below
    }

    /// Whether block `number`'s body has been pruned.
    pub fn is_pruned(&self, number: u64) -> bool {
        number < self.pruned_below
    }

    /// The blocks pruned since the last call, oldest first, with their bodies.
    pub fn take_pruned(&mut self) -> Vec<Arc<Block>> {
        std::mem::take(&mut self.pruned)
    }

    /// Drop the bodies of blocks behind the horizon (after a new head is sealed).
    pub(super) fn prune(&mut self) {
        let head = self.head_number();
        let keep = self.min_kept();
        let cutoff = self
            .head()
            .timestamp()
            .saturating_sub(self.config.history.as_secs());
        while self.pruned_below + keep <= head {
            let n = self.pruned_below as usize;
            if self.blocks[n].timestamp() >= cutoff {
                break;
            }
            let header_only = Arc::new(Block {
                header: self.blocks[n].header.clone(),
                hash: self.blocks[n].hash,
                txs: Vec::new(),
            });
            let full = std::mem::replace(&mut self.blocks[n], header_only);
            self.pruned.push(full);
            self.pruned_below += 1;
            if self.pruned_below.is_multiple_of(TRIM_EVERY) {
                // The index remembers a pruned transaction was mined for as many
                // blocks again, so a relay's status stays confirmed.
                let kept = head + 1 - self.pruned_below;
                let reach = self.pruned_below.saturating_sub(kept);
                self.by_tx.retain(|_, at| at.block >= reach);
            }
        }
        self.notes.forget_below(self.pruned_below);
    }

    /// Whether `hash` was mined on the canonical chain, its body kept or pruned
    /// (a pruned one is remembered for as long again as the kept history).
    pub fn was_mined(&self, hash: &B256) -> bool {
        self.by_tx.contains_key(hash)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use crate::boson::config::BosonConfig;
    use crate::boson::testkit::{START, commit, rpc};
    use crate::boson::{Boson, accounts::Accounts};

    /// Blocks every second, a minute of history: the floor of 256 blocks rules.
    fn twin() -> Boson {
        let config = BosonConfig {
            block_time: Duration::from_secs(1),
            history: Duration::from_secs(60),
            ..BosonConfig::default()
        };
        let accounts = Accounts::new(7, |_| None).expect("generated keys");
        Boson::new(config, accounts, START, Duration::ZERO)
    }

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn bodies_behind_the_horizon_are_pruned_and_reads_there_answer_as_geth() {
        let b = twin();
        let hash = rpc(
            &b,
            at(0),
            "eth_sendRawTransaction",
            json!([commit(&b, 0, 0)]),
        )
        .expect("admitted");
        let receipt = rpc(&b, at(5), "eth_getTransactionReceipt", json!([hash])).expect("answered");
        assert_eq!(receipt["blockNumber"], "0x1", "{receipt}");
        // 400 blocks later the commit's block is past the 256 kept.
        let head = rpc(&b, at(400), "eth_blockNumber", json!([])).expect("answered");
        assert_eq!(head, "0x190");
        {
            let chain = b.chain();
            assert_eq!(chain.pruned_below(), 400 - 256 + 1);
            assert_eq!(chain.kept().count(), 256);
            assert!(chain.was_mined(&hash.as_str().unwrap_or_default().parse().expect("a hash")));
        }
        let receipt = rpc(&b, at(400), "eth_getTransactionReceipt", json!([hash]));
        assert_eq!(receipt, Ok(serde_json::Value::Null), "not indexed any more");
        for (method, params) in [
            ("eth_getLogs", json!([{"fromBlock": "0x0"}])),
            ("eth_getBlockByNumber", json!(["0x1", false])),
            ("eth_getBlockTransactionCountByNumber", json!(["0x1"])),
        ] {
            let e = rpc(&b, at(400), method, params).expect_err("pruned");
            assert_eq!(e["code"], 4444, "{method}: {e}");
            assert_eq!(e["message"], "pruned history unavailable", "{method}");
        }
        // Within the horizon everything answers.
        let logs = rpc(&b, at(400), "eth_getLogs", json!([{"fromBlock": "0x91"}]));
        assert!(logs.is_ok(), "{logs:?}");
        let block = rpc(&b, at(400), "eth_getBlockByNumber", json!(["0x91", false]));
        assert_eq!(block.expect("kept")["number"], "0x91");
    }

    #[test]
    fn history_longer_than_the_floor_keeps_its_time() {
        let config = BosonConfig {
            block_time: Duration::from_secs(1),
            history: Duration::from_secs(300),
            ..BosonConfig::default()
        };
        let accounts = Accounts::new(7, |_| None).expect("generated keys");
        let b = Boson::new(config, accounts, START, Duration::ZERO);
        drop(rpc(&b, at(400), "eth_blockNumber", json!([])));
        // Blocks stamped within 300 s of the head's stamp stay whole.
        assert_eq!(b.chain().pruned_below(), 100);
        assert_eq!(b.archived_blocks(), 100, "each pruned block folded once");
    }
}
