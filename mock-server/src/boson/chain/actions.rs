//! Actions on an exchange, judged the moment they enter the pool: was the
//! exchange's last transition confirmed when the client acted on it, and had the
//! subgraph shown that transition in its latest answer about the exchange? A
//! client that acts on a receipt (an unconfirmed event) or on a read-after-write
//! that predates its own write is caught here, whatever client it is: the twin
//! sees the transaction and the read, never the client's code.

use std::collections::{HashMap, HashSet, VecDeque};

use alloy::primitives::{Address, B256, keccak256};
use std::sync::{Arc, Mutex};

use alloy::sol_types::SolInterface;
use serde::Serialize;

use crate::boson::abi::IBosonProtocol::IBosonProtocolCalls as Calls;

/// How far back from the head an exchange's last transition is looked for.
pub const LOOKBACK: u64 = 256;

/// Per exchange, the indexed block of the subgraph's latest answer that showed it.
#[derive(Debug, Default)]
pub struct ReadLog(Mutex<HashMap<u64, u64>>);

impl ReadLog {
    /// The subgraph answered about `exchange` from its index at block `indexed`.
    pub fn saw(&self, exchange: u64, indexed: u64) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(exchange, indexed);
    }

    pub fn last(&self, exchange: u64) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&exchange)
            .copied()
    }
}

/// `actions` in the Boson section of the oracle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActionCounts {
    /// Confirmations an exchange's last transition needs before the next action.
    pub confirmations: u64,
    /// Transactions on an existing exchange admitted to the pool.
    pub judged: u64,
    /// Of those, sent while the exchange's last transition had fewer confirmations
    /// (an action on an unconfirmed event).
    pub premature: u64,
    /// Sent when the subgraph's latest answer about the exchange came from an index
    /// that had not reached its last transition (acted on a stale read).
    pub stale_reads: u64,
    /// The first few actions judged wrong, to find them on the chain.
    pub examples: Vec<Judged>,
}

/// An action judged wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judged {
    pub exchange: u64,
    /// `premature` or `stale_read`.
    pub why: &'static str,
    /// The block of the exchange's last transition, and the head then.
    pub last_transition: u64,
    pub head: u64,
    /// The indexed block of the subgraph's latest answer about the exchange.
    pub read_at: Option<u64>,
}

/// Examples kept.
pub const EXAMPLES: usize = 10;

/// Intents remembered, at most: a repeat of one is a double submission (the
/// relayer oracle counts it), not a new action to judge.
pub const INTENTS_KEPT: usize = 65_536;

/// What the pool keeps for judging.
#[derive(Debug)]
pub struct Actions {
    pub reads: Arc<ReadLog>,
    pub counts: ActionCounts,
    seen: HashSet<B256>,
    order: VecDeque<B256>,
}

impl Actions {
    pub fn new(confirmations: u64) -> Self {
        Self {
            reads: Arc::default(),
            counts: ActionCounts {
                confirmations,
                ..ActionCounts::default()
            },
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// First time this intent (user, call) enters the pool: remember it. A repeat
    /// is not judged again (the same call, sent twice, is one action).
    pub fn first(&mut self, intent: B256) -> bool {
        if self.seen.contains(&intent) {
            return false;
        }
        if self.order.len() >= INTENTS_KEPT
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(intent);
        self.order.push_back(intent);
        true
    }

    /// Judge an action on `exchange` whose last transition is in block `last` (none
    /// found: nothing to judge) with the chain at `head`.
    pub fn judge(&mut self, exchange: u64, last: Option<u64>, head: u64) {
        let Some(block) = last else { return };
        let read_at = self.reads.last(exchange);
        let c = &mut self.counts;
        c.judged += 1;
        let mut note = |why| {
            if c.examples.len() < EXAMPLES {
                c.examples.push(Judged {
                    exchange,
                    why,
                    last_transition: block,
                    head,
                    read_at,
                });
            }
        };
        if head + 1 < block + c.confirmations {
            note("premature");
            c.premature += 1;
        }
        if read_at.is_some_and(|seen| seen < block) {
            note("stale_read");
            c.stale_reads += 1;
        }
    }
}

/// The exchange a call to the diamond from `from` acts on, and its intent (the
/// user and the call, unwrapped from a meta-transaction) as a digest.
pub fn action_of(from: Address, input: &[u8]) -> Option<(u64, B256)> {
    if let Ok(Calls::executeMetaTransaction(m)) = Calls::abi_decode(input) {
        let inner = &m._functionSignature;
        return Some((exchange_of(inner)?, intent_digest(m._userAddress, inner)));
    }
    Some((exchange_of(input)?, intent_digest(from, input)))
}

/// An intent, `(user, calldata)`, as the 32-byte digest the pool judge and the
/// relayer oracle remember it by.
pub fn intent_digest(user: Address, call: &[u8]) -> B256 {
    let mut bytes = Vec::with_capacity(20 + call.len());
    bytes.extend_from_slice(user.as_slice());
    bytes.extend_from_slice(call);
    keccak256(&bytes)
}

/// The exchange a call to the diamond acts on (inside a meta-transaction too).
pub fn exchange_of(input: &[u8]) -> Option<u64> {
    let id = match Calls::abi_decode(input).ok()? {
        Calls::executeMetaTransaction(m) => return exchange_of(&m._functionSignature),
        Calls::redeemVoucher(c) => c._exchangeId,
        Calls::cancelVoucher(c) => c._exchangeId,
        Calls::revokeVoucher(c) => c._exchangeId,
        Calls::expireVoucher(c) => c._exchangeId,
        Calls::completeExchange(c) => c._exchangeId,
        Calls::raiseDispute(c) => c._exchangeId,
        Calls::retractDispute(c) => c._exchangeId,
        Calls::resolveDispute(c) => c._exchangeId,
        Calls::escalateDispute(c) => c._exchangeId,
        Calls::decideDispute(c) => c._exchangeId,
        Calls::refuseEscalatedDispute(c) => c._exchangeId,
        Calls::expireDispute(c) => c._exchangeId,
        Calls::expireEscalatedDispute(c) => c._exchangeId,
        Calls::extendDisputeTimeout(c) => c._exchangeId,
        _ => return None,
    };
    u64::try_from(id).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy::primitives::U256;
    use alloy::sol_types::SolCall;
    use serde_json::json;

    use crate::boson::abi::IBosonProtocol as P;
    use crate::boson::testkit::{commit, rpc, signed, twin};

    fn redeem(
        b: &crate::boson::Boson,
        buyer: usize,
        nonce: u64,
        id: u64,
    ) -> alloy::primitives::Bytes {
        let input = P::redeemVoucherCall {
            _exchangeId: U256::from(id),
        }
        .abi_encode();
        signed(
            &b.accounts.buyers[buyer].signer,
            nonce,
            b.config.diamond,
            input,
            U256::ZERO,
        )
    }

    fn send(b: &crate::boson::Boson, at: u64, raw: alloy::primitives::Bytes) {
        rpc(
            b,
            Duration::from_secs(at),
            "eth_sendRawTransaction",
            json!([raw]),
        )
        .expect("admitted");
    }

    #[test]
    fn an_action_on_an_unconfirmed_or_unread_transition_is_told_apart() {
        // Blocks every second, 3 confirmations: a commit mined in block 1 (t = 1 s)
        // is confirmed at head 3 (t = 3 s).
        let b = twin(Duration::from_secs(1));
        send(&b, 0, commit(&b, 0, 0));
        send(&b, 0, commit(&b, 1, 0));
        // Acting on the receipt: head 1, one confirmation.
        send(&b, 1, redeem(&b, 0, 1, 1));
        let c = b.chain().actions.counts.clone();
        assert_eq!((c.judged, c.premature, c.stale_reads), (1, 1, 0), "{c:?}");
        // Confirmed, but the latest subgraph answer about it predates the commit.
        b.chain().actions.reads.saw(2, 0);
        send(&b, 3, redeem(&b, 1, 1, 2));
        let c = b.chain().actions.counts.clone();
        assert_eq!((c.judged, c.premature, c.stale_reads), (2, 1, 1), "{c:?}");
        // A fresh read and enough confirmations: judged, nothing wrong. Exchange 1's
        // redeem (block 2) is confirmed at head 4.
        b.chain().actions.reads.saw(1, 2);
        let complete = P::completeExchangeCall {
            _exchangeId: U256::from(1u64),
        }
        .abi_encode();
        let key = &b.accounts.buyers[0].signer;
        send(
            &b,
            4,
            signed(key, 2, b.config.diamond, complete, U256::ZERO),
        );
        let c = b.chain().actions.counts.clone();
        assert_eq!((c.judged, c.premature, c.stale_reads), (3, 1, 1), "{c:?}");
        // The oracle shows the counts.
        let view =
            serde_json::to_value(b.oracle_view(Duration::from_secs(4), &crate::boson::NoFaults))
                .expect("serializes");
        assert_eq!(view["actions"]["premature"], 1, "{view}");
        assert_eq!(view["actions"]["stale_reads"], 1, "{view}");
    }
}
