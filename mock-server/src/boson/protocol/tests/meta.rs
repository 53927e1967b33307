//! Meta-transactions: a relayer submits a call the user signed (EIP-712, the
//! struct core-sdk signs for that function); it runs as the user. Nonces are a
//! used set per user; the function name must match the selector; an inner revert
//! is the meta-transaction's revert, verbatim.

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{SolCall, SolError, SolEvent, SolStruct};

use super::{
    BP, HOUR, NATIVE, Offer, Outcome, PENALTY, REDEEMABLE_FROM, Revert, Stage, T_COMMIT, T_RAISE,
    T_REDEEM, Who, World, at, topics, verdict,
};
use crate::boson::abi::IBosonProtocol as P;
use crate::boson::abi::{
    MetaTransaction, MetaTxCommitToOffer, MetaTxDisputeResolution, MetaTxDisputeResolutionDetails,
    MetaTxExchange, MetaTxExchangeDetails, MetaTxFund, MetaTxFundDetails, MetaTxOfferDetails,
};

const RELAYER: Address = Address::repeat_byte(0x5e);

/// The struct a signer hashes for a function (core-sdk `src/meta-tx/handler.ts`).
#[derive(Debug, Clone, Copy)]
enum Shape {
    Generic,
    Commit,
    Exchange,
    Fund,
    Resolution,
}

fn digest(w: &World, shape: Shape, user: Address, name: &str, nonce: u64, inner: &[u8]) -> B256 {
    let domain = w.p.domain();
    let (nonce, from, contract, name) =
        (U256::from(nonce), user, w.p.rules.diamond, name.to_string());
    match shape {
        Shape::Generic => MetaTransaction {
            nonce,
            from,
            contractAddress: contract,
            functionName: name,
            functionSignature: inner.to_vec().into(),
        }
        .eip712_signing_hash(&domain),
        Shape::Commit => {
            let c = P::commitToOfferCall::abi_decode(inner).expect("a commit");
            MetaTxCommitToOffer {
                nonce,
                from,
                contractAddress: contract,
                functionName: name,
                offerDetails: MetaTxOfferDetails {
                    buyer: c._buyer,
                    offerId: c._offerId,
                },
            }
            .eip712_signing_hash(&domain)
        }
        Shape::Exchange => MetaTxExchange {
            nonce,
            from,
            contractAddress: contract,
            functionName: name,
            exchangeDetails: MetaTxExchangeDetails {
                exchangeId: U256::from_be_slice(&inner[4..36]),
            },
        }
        .eip712_signing_hash(&domain),
        Shape::Fund => {
            let c = P::withdrawFundsCall::abi_decode(inner).expect("a withdrawal");
            MetaTxFund {
                nonce,
                from,
                contractAddress: contract,
                functionName: name,
                fundDetails: MetaTxFundDetails {
                    entityId: c._entityId,
                    tokenList: c._tokenList,
                    tokenAmounts: c._tokenAmounts,
                },
            }
            .eip712_signing_hash(&domain)
        }
        Shape::Resolution => {
            let c = P::resolveDisputeCall::abi_decode(inner).expect("a resolution");
            MetaTxDisputeResolution {
                nonce,
                from,
                contractAddress: contract,
                functionName: name,
                disputeResolutionDetails: MetaTxDisputeResolutionDetails {
                    exchangeId: c._exchangeId,
                    buyerPercentBasisPoints: c._buyerPercent,
                    signature: c._signature,
                },
            }
            .eip712_signing_hash(&domain)
        }
    }
}

/// A meta-transaction for `user`, signed by `signer` over `shape`.
struct Meta {
    user: Who,
    signer: Who,
    shape: Shape,
    name: &'static str,
    inner: Vec<u8>,
    nonce: u64,
}

impl Meta {
    fn new<C: SolCall>(user: Who, shape: Shape, inner: C, nonce: u64) -> Self {
        Self {
            user,
            signer: user,
            shape,
            name: C::SIGNATURE,
            inner: inner.abi_encode(),
            nonce,
        }
    }

    fn call(&self, w: &World) -> P::executeMetaTransactionCall {
        let user = w.addr(self.user);
        let hash = digest(w, self.shape, user, self.name, self.nonce, &self.inner);
        P::executeMetaTransactionCall {
            _userAddress: user,
            _functionName: self.name.to_string(),
            _functionSignature: self.inner.clone().into(),
            _nonce: U256::from(self.nonce),
            _signature: super::sign(w.signer(self.signer), hash),
        }
    }

    /// The relayer submits it at `now`.
    fn relay(&self, w: &mut World, now: u64) -> Result<Outcome, Revert> {
        let data = self.call(w).abi_encode();
        w.raw(RELAYER, now, 0, &data)
    }
}

fn nonce_used(w: &mut World, who: Who, nonce: u64) -> bool {
    let call = P::isUsedNonceCall {
        _associatedAddress: w.addr(who),
        _nonce: U256::from(nonce),
    };
    let out = w.view(call);
    P::isUsedNonceCall::abi_decode_returns(&out).expect("decodes")
}

/// A world whose offer is free (a relayer pays no value, so only a free offer
/// can be committed to through one).
fn free_offer_world() -> World {
    let mut w = World::new();
    let offer = Offer {
        price: U256::ZERO,
        buyer_cancel_penalty: U256::ZERO,
        resolver_id: w.resolver_id,
        ..super::offer(w.seller_id)
    };
    let ctx = super::ctx(w.addr(Who::Seller), super::VALID_FROM - super::DAY, 0, 0);
    let (id, _) = super::super::offer::insert(&mut w.p, offer, &ctx).expect("valid offer");
    w.offer_id = id;
    w
}

fn commit(w: &World) -> P::commitToOfferCall {
    P::commitToOfferCall {
        _buyer: w.addr(Who::Buyer),
        _offerId: U256::from(w.offer_id),
    }
}

#[test]
fn a_signed_commit_runs_as_the_signer_and_uses_its_nonce() {
    let mut w = free_offer_world();
    let meta = Meta::new(Who::Buyer, Shape::Commit, commit(&w), 42);
    let out = meta.relay(&mut w, T_COMMIT).expect("relayed commit");
    let committed = out
        .logs
        .iter()
        .find_map(|l| P::BuyerCommitted::decode_log_data(l).ok());
    let committed = committed.expect("BuyerCommitted");
    assert_eq!(
        committed.executedBy,
        w.addr(Who::Buyer),
        "runs as the signer"
    );
    let executed = out
        .logs
        .iter()
        .find_map(|l| P::MetaTransactionExecuted::decode_log_data(l).ok());
    let executed = executed.expect("MetaTransactionExecuted");
    assert_eq!(executed.userAddress, w.addr(Who::Buyer));
    assert_eq!(executed.relayerAddress, RELAYER);
    assert_eq!(executed.nonce, U256::from(42));
    assert!(nonce_used(&mut w, Who::Buyer, 42));
    assert!(!nonce_used(&mut w, Who::Seller, 42), "nonces are per user");
}

#[test]
fn each_function_is_signed_over_its_own_struct() {
    let x = |stage| {
        let (w, id, _) = at(stage);
        (w, id, U256::from(id))
    };
    let (w, _, id) = x(Stage::Committed);
    let redeem = Meta::new(
        Who::Buyer,
        Shape::Exchange,
        P::redeemVoucherCall { _exchangeId: id },
        1,
    );
    let (w2, _, id2) = x(Stage::Committed);
    let revoke = Meta::new(
        Who::Seller,
        Shape::Generic,
        P::revokeVoucherCall { _exchangeId: id2 },
        1,
    );
    let (w3, _, id3) = x(Stage::Redeemed);
    let raise = Meta::new(
        Who::Buyer,
        Shape::Exchange,
        P::raiseDisputeCall { _exchangeId: id3 },
        1,
    );
    let (w4, _, _) = x(Stage::Completed);
    let part = P::withdrawFundsCall {
        _entityId: U256::from(w4.seller_id),
        _tokenList: vec![NATIVE],
        _tokenAmounts: vec![U256::from(PENALTY)],
    };
    let withdraw = Meta::new(Who::Seller, Shape::Fund, part, 1);
    let (w5, id5, _) = x(Stage::Resolving);
    let resolve = P::resolveDisputeCall {
        _exchangeId: U256::from(id5),
        _buyerPercent: U256::from(BP),
        _signature: w5.sign_resolution(Who::Seller, id5, BP),
    };
    let resolve = Meta::new(Who::Buyer, Shape::Resolution, resolve, 1);
    let w6 = free_offer_world();
    let commit = Meta::new(Who::Buyer, Shape::Commit, commit(&w6), 1);
    let cases = [
        (w, redeem, T_REDEEM),
        (w2, revoke, T_REDEEM),
        (w3, raise, T_RAISE),
        (w4, withdraw, T_RAISE),
        (w5, resolve, T_RAISE + HOUR),
        (w6, commit, T_COMMIT),
    ];
    for (w, meta, now) in cases {
        let (mut right, mut wrong) = (w.clone(), w);
        assert_eq!(verdict(&meta.relay(&mut right, now)), "ok", "{}", meta.name);
        // The same call signed over another struct does not verify.
        let other = match meta.shape {
            Shape::Generic => Shape::Exchange,
            _ => Shape::Generic,
        };
        let misshapen = Meta {
            shape: other,
            ..meta
        };
        let applied = misshapen.relay(&mut wrong, now);
        assert_eq!(
            verdict(&applied),
            "SignatureValidationFailed",
            "{}",
            misshapen.name
        );
    }
}

#[test]
fn a_nonce_is_used_once_per_user_in_any_order() {
    let mut w = free_offer_world();
    let signed = |nonce| Meta::new(Who::Buyer, Shape::Commit, commit(&w), nonce);
    let (n17, n3, again) = (signed(17), signed(3), signed(17));
    assert_eq!(verdict(&n17.relay(&mut w, T_COMMIT)), "ok");
    assert_eq!(
        verdict(&n3.relay(&mut w, T_COMMIT + 1)),
        "ok",
        "nonces need not rise"
    );
    assert_eq!(
        verdict(&again.relay(&mut w, T_COMMIT + 2)),
        "NonceUsedAlready"
    );
    let seller_17 = Meta::new(
        Who::Seller,
        Shape::Generic,
        P::revokeVoucherCall {
            _exchangeId: U256::from(1),
        },
        17,
    );
    assert_eq!(
        verdict(&seller_17.relay(&mut w, T_COMMIT + 3)),
        "ok",
        "another user's 17"
    );
}

#[test]
fn a_meta_transaction_signed_by_another_key_is_refused() {
    let mut w = free_offer_world();
    for signer in [Who::Stranger, Who::Seller] {
        let meta = Meta {
            signer,
            ..Meta::new(Who::Buyer, Shape::Commit, commit(&w), 1)
        };
        let applied = meta.relay(&mut w, T_COMMIT);
        assert_eq!(verdict(&applied), "SignatureValidationFailed", "{signer:?}");
    }
    assert!(!nonce_used(&mut w, Who::Buyer, 1));
}

#[test]
fn a_function_name_must_match_the_selector() {
    let mut w = free_offer_world();
    for name in [
        "redeemVoucher(uint256)",
        "commitToOffer(address, uint256)",
        "commitToOffer",
    ] {
        let meta = Meta {
            name,
            ..Meta::new(Who::Buyer, Shape::Commit, commit(&w), 1)
        };
        assert_eq!(
            verdict(&meta.relay(&mut w, T_COMMIT)),
            "InvalidFunctionName",
            "{name}"
        );
    }
}

#[test]
fn views_and_nested_meta_transactions_are_not_allowlisted() {
    let mut w = free_offer_world();
    let view = Meta::new(Who::Buyer, Shape::Generic, P::getNextOfferIdCall {}, 1);
    assert_eq!(
        verdict(&view.relay(&mut w, T_COMMIT)),
        "FunctionNotAllowlisted"
    );
    let inner = Meta::new(Who::Buyer, Shape::Commit, commit(&w), 2).call(&w);
    let nested = Meta::new(Who::Buyer, Shape::Generic, inner, 3);
    assert_eq!(
        verdict(&nested.relay(&mut w, T_COMMIT)),
        "FunctionNotAllowlisted"
    );
}

#[test]
fn an_inner_revert_bubbles_up_verbatim_and_spends_no_nonce() {
    let (mut w, id, _) = at(Stage::Committed);
    let redeem = P::redeemVoucherCall {
        _exchangeId: U256::from(id),
    };
    let early = Meta::new(Who::Buyer, Shape::Exchange, redeem.clone(), 5);
    let err = early
        .relay(&mut w, REDEEMABLE_FROM - 1)
        .expect_err("too early");
    assert_eq!(
        err.0.as_ref(),
        P::VoucherNotRedeemable {}.abi_encode().as_slice()
    );
    assert!(
        !nonce_used(&mut w, Who::Buyer, 5),
        "a reverted transaction keeps nothing"
    );

    let stranger = Meta::new(Who::Stranger, Shape::Exchange, redeem, 5);
    let err = stranger
        .relay(&mut w, T_REDEEM)
        .expect_err("not the holder");
    assert_eq!(
        err.0.as_ref(),
        P::NotVoucherHolder {}.abi_encode().as_slice()
    );

    let out = early
        .relay(&mut w, T_REDEEM)
        .expect("the same nonce, in time");
    assert!(topics(&out).contains(&P::VoucherRedeemed::SIGNATURE_HASH));
    assert_eq!(w.status(id).0, super::ExchangeState::Redeemed);
}

#[test]
fn a_paused_meta_transaction_region_refuses_before_anything_else() {
    let (mut w, id, _) = at(Stage::Committed);
    let redeem = P::redeemVoucherCall {
        _exchangeId: U256::from(id),
    };
    let meta = Meta::new(Who::Buyer, Shape::Exchange, redeem, 1);
    // (paused region, the revert's region): the meta region first, then the inner call's.
    for (region, want) in [("MetaTransaction", 12), ("Exchanges", 8)] {
        w.paused = 1 << crate::boson::protocol::region_bit(region).expect("a region");
        let err = meta.relay(&mut w, T_REDEEM).expect_err("paused");
        let paused = P::RegionPaused::abi_decode(&err.0).expect("RegionPaused");
        assert_eq!(paused.region, want, "{region}");
    }
    w.paused = 0;
    assert_eq!(verdict(&meta.relay(&mut w, T_REDEEM)), "ok");
}

#[test]
fn a_meta_transaction_passes_its_value_to_a_payable_call_only() {
    // A priced offer: the relayer attaches the price, the commit inside receives it.
    let mut w = World::new();
    let price = super::offer(w.seller_id).price;
    let value = u64::try_from(price).expect("small price");
    let meta = Meta::new(Who::Buyer, Shape::Commit, commit(&w), 7);
    let data = meta.call(&w).abi_encode();
    let out = w.raw(RELAYER, T_COMMIT, value, &data).expect("paid commit");
    assert!(out.transitions.contains(&(1, "Committed")));
    // Without the value the commit inside refuses, by its own name.
    let meta = Meta::new(Who::Buyer, Shape::Commit, commit(&w), 8);
    let refused = meta.relay(&mut w, T_COMMIT).expect_err("unpaid");
    assert_eq!(refused.name(), "InsufficientValueReceived");
    // Value sent along with a call that takes none is refused.
    let redeem = P::redeemVoucherCall {
        _exchangeId: U256::from(1u64),
    };
    let meta = Meta::new(Who::Buyer, Shape::Exchange, redeem, 9);
    let data = meta.call(&w).abi_encode();
    let refused = w
        .raw(RELAYER, T_REDEEM, value, &data)
        .expect_err("value on redeem");
    assert_eq!(refused.name(), "NativeNotAllowed");
}
