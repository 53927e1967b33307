//! The meta-transaction relayer, in Biconomy's shape (what core-sdk's
//! `meta-tx/biconomy.ts` talks to): it takes a user's signed meta-transaction,
//! estimates it, and sends `executeMetaTransaction` from its own funded account
//! into the chain's pool; it answers the status of what it sent, including a
//! resubmission under a new hash.
//!
//! # Layout
//!
//! - this file: [`Relayer`], what it sent and its counts; relaying and status,
//!   without the engine (time and chain faults come in as arguments).
//! - [`body`]: the request as core-sdk sends it and Biconomy's reply bodies.
//! - [`http`]: the HTTP paths, through the engine's pipeline and `relayer` rules.
//! - [`listen`]: the dedicated listener, closed for real during a `refuse` window.
//! - [`oracle`]: the relayer's part of the Boson oracle, double submissions.

pub mod body;
pub mod http;
pub mod listen;
pub mod oracle;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{B256, Bytes, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;

use super::chain::{ChainConfig, Refused, exec, sign::OWN_GAS, tx};
use super::protocol::{Ctx, Revert};
use super::{Boson, ChainFaults};
pub use body::MetaTx;

/// Relays remembered for the status endpoint, at most (the oldest are forgotten;
/// the counts are kept).
pub const RECORDS_KEPT: usize = 100_000;

/// What the relayer does with a meta-transaction that passed its estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Send it, answer its hash.
    Submit,
    /// Answer a fresh hash and send nothing: it never appears.
    NeverMines,
    /// Answer the hash of a transaction that is replaced before it is sent, and send
    /// the replacement (same nonce, higher fee) under a new hash.
    Resubmit,
    /// Send it, then answer as if a retry of the relayer's own met the nonce used:
    /// the meta-transaction is applied though the client hears of an error.
    NonceError,
}

/// One relayed meta-transaction, as the status endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The hash the relay call answered.
    pub old_hash: B256,
    /// The hash that is (or will be) mined: the old one unless resubmitted.
    pub new_hash: B256,
    /// Effective gas prices (wei) of the first and the final transaction.
    pub old_gas_price: u128,
    pub new_gas_price: u128,
    /// Unix milliseconds of the relay.
    pub timestamp_ms: u64,
    pub retry_count: u32,
    /// False for a hash that was never sent (`never_mines`).
    pub submitted: bool,
}

/// Where a relayed transaction is, in Biconomy's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not (yet) mined under `newHash`: core-sdk keeps polling.
    Pending,
    /// Mined on the canonical chain under `newHash`: its receipt is there.
    Confirmed,
}

impl Status {
    /// `newStatus` as Biconomy writes it (core-sdk compares with `"PENDING"` only).
    pub fn word(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
        }
    }
}

/// Why a relay was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The call would revert: Biconomy's gas estimation fails (417), nothing is sent.
    #[error("execution reverted: {}", .0.name())]
    Estimation(Revert),
    /// The pool refused the relayer's own transaction (its funds ran dry, the pool
    /// is full).
    #[error("{0}")]
    Pool(Refused),
}

/// What the relayer has done, for the oracle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Transactions sent to the pool (a resubmission counts once).
    pub submitted: u64,
    /// Relays answered with a hash that is never sent.
    pub never_mined: u64,
    /// Relays sent under another hash than the one answered.
    pub resubmitted: u64,
    /// Relays refused because the call would revert (a 417 not injected by a rule).
    pub estimation_refusals: u64,
    /// Requests (or, for `refuse` on the dedicated listener, windows) that met each mode.
    pub by_mode: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Default)]
struct Book {
    /// Each record under its old and its new hash.
    by_hash: HashMap<B256, Arc<Record>>,
    /// Oldest first, to forget past [`RECORDS_KEPT`].
    order: VecDeque<Arc<Record>>,
    counts: Counts,
}

/// The relayer: what it sent and its counts. Its account is the seeded `relayer`.
#[derive(Debug, Default)]
pub struct Relayer {
    book: Mutex<Book>,
}

/// A relay the relayer took: the hash to answer and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    pub answered: B256,
    pub record: Arc<Record>,
}

/// An EIP-1559 call from `key` with tip `tip`: the fee cap is twice the base fee
/// plus the tip, so the effective price is the base fee plus the tip.
fn signed(
    key: &PrivateKeySigner,
    config: &ChainConfig,
    nonce: u64,
    input: &[u8],
    tip: u128,
) -> Bytes {
    let tx = TxEip1559 {
        chain_id: config.chain_id,
        nonce,
        gas_limit: OWN_GAS,
        max_fee_per_gas: 2 * config.base_fee + tip,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(config.diamond),
        value: U256::ZERO,
        input: input.to_vec().into(),
        access_list: Default::default(),
    };
    match key.sign_hash_sync(&tx.signature_hash()) {
        Ok(sig) => TxEnvelope::from(tx.into_signed(sig)).encoded_2718().into(),
        // A local key over a 32-byte hash does not fail; the decoder refuses this.
        Err(_) => Bytes::new(),
    }
}

/// The resubmission's tip: a quarter more (at least a tenth of a gwei), past the
/// 10% bump a node asks of a replacement.
fn bumped(tip: u128) -> u128 {
    tip + (tip / 4).max(100_000_000)
}

impl Relayer {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget every relay and count.
    pub fn reset(&self) {
        *self.book() = Book::default();
    }

    /// Count a request (or a refusal window) that met `mode`.
    pub fn count_mode(&self, mode: &'static str) {
        *self.book().counts.by_mode.entry(mode).or_default() += 1;
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        self.book().counts.clone()
    }

    /// Every remembered record, oldest first.
    pub fn records(&self) -> Vec<Arc<Record>> {
        self.book().order.iter().cloned().collect()
    }

    /// Relay `meta` at twin time `now`: estimate it on a copy of the head's state
    /// (a revert refuses it), then deal with it by `fate`. `fresh` is the hash a
    /// `never_mines` relay answers. Under automine the block is mined before this
    /// returns.
    pub fn relay(
        &self,
        boson: &Boson,
        now: Duration,
        faults: &dyn ChainFaults,
        meta: &MetaTx,
        fate: Fate,
        fresh: B256,
    ) -> Result<Relayed, RelayError> {
        let key = &boson.accounts.relayer.signer;
        let input = meta.call().abi_encode();
        let record = {
            let mut chain = boson.chain_at(now, faults);
            let env = chain.env_at(now);
            let ctx = Ctx {
                sender: key.address(),
                origin: key.address(),
                value: U256::ZERO,
                now: env.timestamp,
                paused: env.paused,
            };
            let mut world = chain.state().clone();
            if let Err(revert) = exec::call(&mut world, &ctx, &input, env.diamond) {
                self.book().counts.estimation_refusals += 1;
                return Err(RelayError::Estimation(revert));
            }
            let config = chain.config.clone();
            let tip = config.priority_fee;
            let price = config.base_fee + tip;
            let nonce = chain.pending_nonce(key.address());
            let mut record = Record {
                old_hash: fresh,
                new_hash: fresh,
                old_gas_price: price,
                new_gas_price: price,
                timestamp_ms: (chain.timestamp_at(now) * 1000),
                retry_count: 0,
                submitted: fate != Fate::NeverMines,
            };
            let send = |raw: Bytes, chain: &mut super::chain::Chain| {
                let tx = tx::decode(&raw, config.chain_id).map_err(RelayError::Pool)?;
                chain.submit(tx).map_err(RelayError::Pool)
            };
            match fate {
                Fate::NeverMines => {}
                Fate::Submit | Fate::NonceError => {
                    let hash = send(signed(key, &config, nonce, &input, tip), &mut chain)?;
                    (record.old_hash, record.new_hash) = (hash, hash);
                }
                Fate::Resubmit => {
                    let first = signed(key, &config, nonce, &input, tip);
                    let first = tx::decode(&first, config.chain_id).map_err(RelayError::Pool)?;
                    let tip = bumped(tip);
                    let hash = send(signed(key, &config, nonce, &input, tip), &mut chain)?;
                    record.old_hash = first.hash;
                    record.new_hash = hash;
                    record.new_gas_price = config.base_fee + tip;
                    record.retry_count = 1;
                }
            }
            Arc::new(record)
        };
        // Under automine the block is mined now; otherwise at the next interval.
        drop(boson.chain_at(now, faults));
        let mut book = self.book();
        let c = &mut book.counts;
        match fate {
            Fate::NeverMines => c.never_mined += 1,
            Fate::Resubmit => {
                c.submitted += 1;
                c.resubmitted += 1;
            }
            Fate::Submit | Fate::NonceError => c.submitted += 1,
        }
        book.by_hash.insert(record.old_hash, record.clone());
        book.by_hash.insert(record.new_hash, record.clone());
        book.order.push_back(record.clone());
        while book.order.len() > RECORDS_KEPT {
            if let Some(old) = book.order.pop_front() {
                book.by_hash.remove(&old.old_hash);
                book.by_hash.remove(&old.new_hash);
            }
        }
        Ok(Relayed {
            answered: record.old_hash,
            record,
        })
    }

    /// The status of the relay known by `hash` (its old or its new hash) at twin
    /// time `now`: `Confirmed` only once the chain holds the receipt of `newHash`.
    pub fn status(
        &self,
        boson: &Boson,
        now: Duration,
        faults: &dyn ChainFaults,
        hash: &B256,
    ) -> Option<(Arc<Record>, Status)> {
        let record = self.book().by_hash.get(hash)?.clone();
        if !record.submitted {
            return Some((record, Status::Pending));
        }
        let chain = boson.chain_at(now, faults);
        let status = if chain.was_mined(&record.new_hash) {
            Status::Confirmed
        } else {
            Status::Pending
        };
        Some((record, status))
    }
}
