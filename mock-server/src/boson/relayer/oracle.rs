//! The relayer's part of the Boson oracle: what it sent and what became of it, and
//! **double submissions** read from the canonical chain.
//!
//! An intent is what a user asked for: (user, function, arguments). The contract
//! refuses a function name that does not match the calldata's selector, so the
//! calldata alone names function and arguments: the intent is `(user, calldata)`,
//! whether it came as a meta-transaction (the signer and the inner call) or as a
//! direct call (the sender and its input). The same intent applied twice is a double
//! submission (a relayed commit that the client also sent itself commits twice); an
//! attempt refused because it was one (`NonceUsedAlready`, or a revert after the
//! same intent already succeeded: the state moved on, `InvalidState`) is a duplicate
//! refusal.

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::Address;
use alloy::sol_types::{SolCall, SolInterface};
use serde::Serialize;

use super::Relayer;
use crate::boson::abi::IBosonProtocol::IBosonProtocolCalls as Calls;
use crate::boson::abi::IBosonProtocol::withdrawFundsCall;
use crate::boson::chain::Chain;
use crate::boson::protocol::{Revert, meta};
use crate::engine::faults::RelayerMode;

/// `relayer` in the Boson section of `GET /_gauntlet/oracle`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RelayerView {
    /// Relayed transactions the relayer sent to the pool (a resubmission counts once).
    pub submitted: u64,
    /// Of those it still remembers, how many are on the canonical chain under their
    /// final hash.
    pub mined: u64,
    /// Relays answered with a hash that was never sent (`never_mines`).
    pub never_mined: u64,
    /// Relays mined under another hash than the one answered (`resubmit`).
    pub resubmitted: u64,
    /// Relays refused at estimation because the call would revert (not injected).
    pub estimation_refusals: u64,
    /// Applications of an intent beyond its first, on the canonical chain.
    pub double_submissions: u64,
    /// Mined attempts that reverted as duplicates of an intent already applied.
    pub duplicate_refusals: u64,
    /// Injections per relayer mode (every mode listed, zero included).
    pub by_mode: BTreeMap<String, u64>,
}

/// What a transaction to the diamond asks for: `(user, calldata)`. Calls a
/// meta-transaction may not make (views, the owner's `diamondCut`) are not intents.
fn intent(from: Address, input: &[u8]) -> Option<(Address, Vec<u8>)> {
    match Calls::abi_decode(input).ok()? {
        Calls::executeMetaTransaction(c) => Some((c._userAddress, c._functionSignature.to_vec())),
        call if meta::allowlisted(&call) => Some((from, input.to_vec())),
        _ => None,
    }
}

/// What a transaction asks for: (user, calldata).
type Intent = (Address, Vec<u8>);
/// An intent's applications so far: how many, the exchange the last committed,
/// and its block.
type Applications = (u64, Option<u64>, u64);

/// Double submissions and duplicate refusals on the canonical chain; the relayer's
/// own counts are zero until [`Relayer::fill`] adds them.
///
/// Two intents a user may mean more than once: a commit (two of one item) is a
/// double submission only while the exchange of the first is untouched (still
/// `Committed`), and a withdrawal of the same amount only when it lands within
/// `confirmations` blocks of the one before it: the way a resend follows the send it repeats.
pub fn from_chain(chain: &Chain) -> RelayerView {
    let diamond = chain.config.diamond;
    // Per intent: times applied, the exchange its last application committed, and
    // the block of that application.
    let mut applied: HashMap<Intent, Applications> = HashMap::new();
    let confirmations = chain.config.confirmations.max(1);
    let mut state: HashMap<u64, &'static str> = HashMap::new();
    let (mut doubles, mut refusals) = (0, 0);
    for block in chain.range(0, chain.head_number()) {
        for m in &block.txs {
            let key = (m.tx.to() == Some(diamond))
                .then(|| intent(m.tx.from, m.tx.input()))
                .flatten();
            if let Some(key) = key {
                let seen = applied.get(&key).copied().unwrap_or_default();
                let withdrawal = key.1.starts_with(&withdrawFundsCall::SELECTOR);
                let repeats = seen.0 > 0
                    && match seen.1 {
                        Some(x) => state.get(&x) == Some(&"Committed"),
                        None if withdrawal => block.number() < seen.2 + confirmations,
                        None => true,
                    };
                if m.effect.success {
                    doubles += u64::from(repeats);
                    let committed = m
                        .effect
                        .transitions
                        .iter()
                        .find(|t| t.1 == "Committed")
                        .map(|t| t.0);
                    applied.insert(key, (seen.0 + 1, committed, block.number()));
                } else if let Some(data) = &m.effect.revert {
                    let nonce_used = Revert(data.clone()).name() == "NonceUsedAlready";
                    refusals += u64::from(nonce_used || repeats);
                }
            }
            for t in &m.effect.transitions {
                state.insert(t.0, t.1);
            }
        }
    }
    RelayerView {
        double_submissions: doubles,
        duplicate_refusals: refusals,
        by_mode: RelayerMode::NAMES
            .iter()
            .map(|m| (m.to_string(), 0))
            .collect(),
        ..RelayerView::default()
    }
}

impl Relayer {
    /// Add the relayer's own counts to `view`; `chain` says which relays are mined.
    pub fn fill(&self, view: &mut RelayerView, chain: &Chain) {
        let c = self.counts();
        view.submitted = c.submitted;
        view.never_mined = c.never_mined;
        view.resubmitted = c.resubmitted;
        view.estimation_refusals = c.estimation_refusals;
        for (mode, n) in c.by_mode {
            *view.by_mode.entry(mode.to_string()).or_default() += n;
        }
        view.mined = self
            .records()
            .iter()
            .filter(|r| r.submitted && chain.mined(&r.new_hash).is_some())
            .count() as u64;
    }
}
