//! The relayer without a server: each fate and what the chain and the status
//! endpoint say after it, the estimate that refuses a reverting call, and the
//! oracle's double submissions.

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolInterface};
use serde_json::json;

use super::{Fate, MetaTx, RelayError, Relayer, Status};
use crate::boson::abi::BosonTypes as T;
use crate::boson::abi::IBosonProtocol::{self as P, IBosonProtocolCalls as Calls};
use crate::boson::protocol::meta;
use crate::boson::testkit::{START, rpc, signed, twin};
use crate::boson::{Boson, NoFaults};

const T0: Duration = Duration::ZERO;

fn buyer(b: &Boson) -> PrivateKeySigner {
    b.accounts.buyers[0].signer.clone()
}

/// `call` signed by `key` as a meta-transaction with `nonce` (the digest core-sdk
/// signs for that function).
fn meta_tx<C: SolCall>(b: &Boson, key: &PrivateKeySigner, call: C, nonce: u64) -> MetaTx {
    let raw = call.abi_encode();
    let inner = Calls::abi_decode(&raw).expect("a protocol call");
    let digest = {
        let chain = b.chain();
        meta::digest(
            &chain.state().protocol,
            key.address(),
            C::SIGNATURE,
            U256::from(nonce),
            &inner,
            &raw,
        )
    };
    let sig = key.sign_hash_sync(&digest).expect("signs");
    MetaTx {
        user: key.address(),
        function_name: C::SIGNATURE.to_string(),
        function_signature: raw.into(),
        nonce: U256::from(nonce),
        signature: sig.as_bytes().to_vec().into(),
        from: key.address(),
        api_id: "id1".into(),
    }
}

/// A direct transaction from `key` (nonce `nonce`) carrying `value`.
fn direct<C: SolCall>(b: &Boson, key: &PrivateKeySigner, nonce: u64, call: C, value: U256) {
    let raw = signed(key, nonce, b.config.diamond, call.abi_encode(), value);
    rpc(b, T0, "eth_sendRawTransaction", json!([raw])).expect("sent");
}

fn redeem(id: u64) -> P::redeemVoucherCall {
    P::redeemVoucherCall {
        _exchangeId: U256::from(id),
    }
}

/// An automining twin where buyer 0 committed to the known offer (exchange 1).
fn committed() -> Boson {
    let b = twin(Duration::ZERO);
    let key = buyer(&b);
    let commit = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(b.config.known_offer),
    };
    direct(&b, &key, 0, commit, b.config.offer_price);
    b
}

fn relay(r: &Relayer, b: &Boson, m: &MetaTx, fate: Fate) -> Result<super::Relayed, RelayError> {
    r.relay(b, T0, &NoFaults, m, fate, B256::repeat_byte(0xf5))
}

fn receipt_status(b: &Boson, hash: B256) -> Option<bool> {
    b.chain().mined(&hash).map(|(_, m)| m.effect.success)
}

#[test]
fn a_relayed_redeem_is_sent_by_the_relayer_mined_and_confirmed() {
    let b = committed();
    let r = Relayer::default();
    let m = meta_tx(&b, &buyer(&b), redeem(1), 7);
    let done = relay(&r, &b, &m, Fate::Submit).expect("relayed");
    assert_eq!(done.answered, done.record.new_hash);
    let chain = b.chain();
    let (_, mined) = chain.mined(&done.answered).expect("mined under automine");
    assert!(mined.effect.success, "{:?}", mined.effect.revert);
    assert_eq!(
        mined.tx.from,
        b.accounts.relayer.address(),
        "the relayer pays"
    );
    drop(chain);
    let (record, status) = r.status(&b, T0, &NoFaults, &done.answered).expect("known");
    assert_eq!((record.retry_count, status), (0, Status::Confirmed));
    let c = r.counts();
    assert_eq!((c.submitted, c.never_mined, c.resubmitted), (1, 0, 0));
}

#[test]
fn on_interval_mining_the_status_is_pending_until_the_block() {
    let b = twin(Duration::from_secs(2));
    let key = buyer(&b);
    let commit = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(1u64),
    };
    direct(&b, &key, 0, commit, b.config.offer_price);
    drop(b.chain_at(Duration::from_secs(2), &NoFaults));
    let r = Relayer::default();
    let m = meta_tx(&b, &key, redeem(1), 1);
    let at = Duration::from_secs(3);
    let done = r
        .relay(&b, at, &NoFaults, &m, Fate::Submit, B256::ZERO)
        .expect("relayed");
    let status = |t| r.status(&b, t, &NoFaults, &done.answered).expect("known").1;
    assert_eq!(status(at), Status::Pending);
    assert_eq!(status(Duration::from_secs(4)), Status::Confirmed);
}

#[test]
fn never_mines_answers_a_hash_that_never_appears() {
    let b = committed();
    let r = Relayer::default();
    let m = meta_tx(&b, &buyer(&b), redeem(1), 7);
    let done = relay(&r, &b, &m, Fate::NeverMines).expect("accepted");
    assert_eq!(done.answered, B256::repeat_byte(0xf5));
    for secs in [0, 60, 3600] {
        let t = Duration::from_secs(secs);
        drop(b.chain_at(t, &NoFaults));
        let (_, status) = r.status(&b, t, &NoFaults, &done.answered).expect("known");
        assert_eq!(status, Status::Pending);
    }
    assert!(b.chain().mined(&done.answered).is_none());
    assert_eq!(b.chain().pool_len(), 0, "nothing was sent");
    assert_eq!((r.counts().never_mined, r.counts().submitted), (1, 0));
}

#[test]
fn resubmit_mines_under_a_new_hash_at_a_higher_price_and_the_old_never_appears() {
    let b = committed();
    let r = Relayer::default();
    let m = meta_tx(&b, &buyer(&b), redeem(1), 7);
    let done = relay(&r, &b, &m, Fate::Resubmit).expect("relayed");
    let rec = &done.record;
    assert_eq!(done.answered, rec.old_hash);
    assert_ne!(rec.old_hash, rec.new_hash);
    assert!(rec.new_gas_price > rec.old_gas_price);
    assert_eq!(rec.retry_count, 1);
    assert_eq!(receipt_status(&b, rec.old_hash), None);
    assert_eq!(receipt_status(&b, rec.new_hash), Some(true));
    let chain = b.chain();
    let (_, mined) = chain.mined(&rec.new_hash).expect("mined");
    assert_eq!(mined.effect.gas_price, rec.new_gas_price);
    drop(chain);
    for hash in [rec.old_hash, rec.new_hash] {
        let (found, status) = r.status(&b, T0, &NoFaults, &hash).expect("known by both");
        assert_eq!((found.new_hash, status), (rec.new_hash, Status::Confirmed));
    }
    assert_eq!((r.counts().submitted, r.counts().resubmitted), (1, 1));
}

#[test]
fn the_estimate_refuses_a_call_that_would_revert_and_sends_nothing() {
    let b = twin(Duration::ZERO);
    let r = Relayer::default();
    let key = buyer(&b);
    let no_exchange = meta_tx(&b, &key, redeem(9), 1);
    let err = relay(&r, &b, &no_exchange, Fate::Submit).expect_err("reverts");
    assert_eq!(err.to_string(), "execution reverted: NoSuchExchange");
    let mut forged = meta_tx(&b, &key, redeem(9), 1);
    forged.user = b.accounts.buyers[1].address();
    let err = relay(&r, &b, &forged, Fate::Submit).expect_err("bad signature");
    assert_eq!(
        err.to_string(),
        "execution reverted: SignatureValidationFailed"
    );
    assert_eq!(b.chain().head_number(), 0, "nothing mined");
    assert_eq!(r.counts().estimation_refusals, 2);
    assert_eq!(r.counts().submitted, 0);
}

#[test]
fn a_nonce_error_relay_is_applied_and_its_replay_is_refused_at_the_estimate() {
    let b = committed();
    let r = Relayer::default();
    let m = meta_tx(&b, &buyer(&b), redeem(1), 7);
    let done = relay(&r, &b, &m, Fate::NonceError).expect("sent");
    assert_eq!(receipt_status(&b, done.answered), Some(true));
    let again = relay(&r, &b, &m, Fate::Submit).expect_err("nonce used");
    assert_eq!(again.to_string(), "execution reverted: NonceUsedAlready");
}

/// A free offer by the seller (a relayer sends no value, so a relayed commit needs
/// one), created at twin time zero: offer 2.
fn free_offer(b: &Boson) -> u64 {
    let now = START as u64;
    let u = U256::from;
    let create = P::createOfferCall {
        _offer: T::Offer {
            quantityAvailable: u(10u64),
            metadataUri: "ipfs://free".into(),
            metadataHash: "free".into(),
            ..Default::default()
        },
        _offerDates: T::OfferDates {
            validFrom: u(now - 60),
            validUntil: u(now + 365 * 86_400),
            voucherRedeemableFrom: u(now - 60),
            voucherRedeemableUntil: U256::ZERO,
        },
        _offerDurations: T::OfferDurations {
            disputePeriod: u(7 * 86_400u64),
            voucherValid: u(30 * 86_400u64),
            resolutionPeriod: u(7 * 86_400u64),
        },
        _drParameters: T::DRParameters {
            disputeResolverId: u(2u64),
            mutualizerAddress: Address::ZERO,
        },
        _agentId: U256::ZERO,
        _feeLimit: U256::MAX,
    };
    direct(b, &b.accounts.seller.signer.clone(), 0, create, U256::ZERO);
    2
}

#[test]
fn the_oracle_counts_an_intent_relayed_then_sent_directly() {
    let b = twin(Duration::ZERO);
    let r = Relayer::default();
    let key = buyer(&b);
    let offer = free_offer(&b);
    let commit = P::commitToOfferCall {
        _buyer: key.address(),
        _offerId: U256::from(offer),
    };
    let view = |b: &Boson| b.oracle_view(T0, &NoFaults).relayer;
    relay(
        &r,
        &b,
        &meta_tx(&b, &key, commit.clone(), 1),
        Fate::NeverMines,
    )
    .expect("accepted");
    assert_eq!(
        view(&b).double_submissions,
        0,
        "a never-mined relay applied nothing"
    );
    relay(
        &r,
        &b,
        &meta_tx(&b, &key, commit.clone(), 2),
        Fate::NonceError,
    )
    .expect("sent");
    assert_eq!(view(&b).double_submissions, 0, "applied once");
    // The client heard of an error and falls back to a direct commit: a second voucher.
    direct(&b, &key, 0, commit, U256::ZERO);
    let v = view(&b);
    assert_eq!((v.double_submissions, v.duplicate_refusals), (1, 0));
    // A relayed redeem, then the same redeem sent directly: refused as a duplicate.
    relay(&r, &b, &meta_tx(&b, &key, redeem(1), 3), Fate::Submit).expect("relayed");
    direct(&b, &key, 1, redeem(1), U256::ZERO);
    let mut v = view(&b);
    assert_eq!((v.double_submissions, v.duplicate_refusals), (1, 1));
    r.fill(&mut v, &b.chain());
    assert_eq!((v.submitted, v.mined, v.never_mined), (2, 2, 1));
    assert_eq!(
        b.oracle_view(T0, &NoFaults).refusals.get("InvalidState"),
        Some(&1)
    );
}
