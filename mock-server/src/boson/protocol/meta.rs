//! Meta-transactions: `executeMetaTransaction(user, functionName, functionSignature,
//! nonce, sig)`. Nonces are a used set per signer, not a sequence; the signature is
//! EIP-712 over the struct core-sdk signs for that function; the inner call runs as
//! the signer.

use alloy::primitives::{Address, B256, Signature, U256, keccak256};
use alloy::sol_types::{SolInterface, SolStruct};

use super::{Applied, Ctx, Protocol, refuse, unpaused};
use crate::boson::abi::IBosonProtocol::{self as P, IBosonProtocolCalls as Calls};
use crate::boson::abi::{
    MetaTransaction, MetaTxCommitToOffer, MetaTxDisputeResolution, MetaTxDisputeResolutionDetails,
    MetaTxExchange, MetaTxExchangeDetails, MetaTxFund, MetaTxFundDetails, MetaTxOfferDetails,
};

/// The address that signed `digest`, from a 65-byte `r‖s‖v` signature (v 27/28 or 0/1).
pub fn signer(signature: &[u8], digest: B256) -> Option<Address> {
    let sig = Signature::try_from(signature).ok()?;
    sig.recover_address_from_prehash(&digest).ok()
}

/// The functions a meta-transaction may call: every state change the twin serves.
pub fn allowlisted(call: &Calls) -> bool {
    use Calls as C;
    matches!(
        call,
        C::createOffer(_)
            | C::voidOffer(_)
            | C::commitToOffer(_)
            | C::redeemVoucher(_)
            | C::cancelVoucher(_)
            | C::revokeVoucher(_)
            | C::expireVoucher(_)
            | C::completeExchange(_)
            | C::raiseDispute(_)
            | C::retractDispute(_)
            | C::resolveDispute(_)
            | C::escalateDispute(_)
            | C::decideDispute(_)
            | C::refuseEscalatedDispute(_)
            | C::expireDispute(_)
            | C::expireEscalatedDispute(_)
            | C::extendDisputeTimeout(_)
            | C::depositFunds(_)
            | C::withdrawFunds(_)
    )
}

/// The EIP-712 digest the signer must have signed for this inner call.
pub fn digest(
    p: &Protocol,
    user: Address,
    name: &str,
    nonce: U256,
    call: &Calls,
    raw: &[u8],
) -> B256 {
    let domain = p.domain();
    let base = (nonce, user, p.rules.diamond, name.to_string());
    let exchange = |id: U256| {
        MetaTxExchange {
            nonce: base.0,
            from: base.1,
            contractAddress: base.2,
            functionName: base.3.clone(),
            exchangeDetails: MetaTxExchangeDetails { exchangeId: id },
        }
        .eip712_signing_hash(&domain)
    };
    use Calls as C;
    match call {
        C::commitToOffer(c) => MetaTxCommitToOffer {
            nonce,
            from: user,
            contractAddress: p.rules.diamond,
            functionName: name.to_string(),
            offerDetails: MetaTxOfferDetails {
                buyer: c._buyer,
                offerId: c._offerId,
            },
        }
        .eip712_signing_hash(&domain),
        C::cancelVoucher(c) => exchange(c._exchangeId),
        C::redeemVoucher(c) => exchange(c._exchangeId),
        C::completeExchange(c) => exchange(c._exchangeId),
        C::retractDispute(c) => exchange(c._exchangeId),
        C::escalateDispute(c) => exchange(c._exchangeId),
        C::raiseDispute(c) => exchange(c._exchangeId),
        C::resolveDispute(c) => MetaTxDisputeResolution {
            nonce,
            from: user,
            contractAddress: p.rules.diamond,
            functionName: name.to_string(),
            disputeResolutionDetails: MetaTxDisputeResolutionDetails {
                exchangeId: c._exchangeId,
                buyerPercentBasisPoints: c._buyerPercent,
                signature: c._signature.clone(),
            },
        }
        .eip712_signing_hash(&domain),
        C::withdrawFunds(c) => MetaTxFund {
            nonce,
            from: user,
            contractAddress: p.rules.diamond,
            functionName: name.to_string(),
            fundDetails: MetaTxFundDetails {
                entityId: c._entityId,
                tokenList: c._tokenList.clone(),
                tokenAmounts: c._tokenAmounts.clone(),
            },
        }
        .eip712_signing_hash(&domain),
        _ => MetaTransaction {
            nonce,
            from: user,
            contractAddress: p.rules.diamond,
            functionName: name.to_string(),
            functionSignature: raw.to_vec().into(),
        }
        .eip712_signing_hash(&domain),
    }
}

/// `executeMetaTransaction`: the contracts' checks in their order (region, nonce,
/// function name, allowlist, signature), then the inner call as the signer. An inner
/// revert is the meta-transaction's revert, verbatim.
pub fn execute(p: &mut Protocol, ctx: &Ctx, c: P::executeMetaTransactionCall) -> Applied {
    unpaused(ctx, "MetaTransaction")?;
    let user = c._userAddress;
    if p.used_nonces.contains(&(user, c._nonce)) {
        return refuse(P::NonceUsedAlready {});
    }
    let raw = c._functionSignature.as_ref();
    let named = keccak256(c._functionName.as_bytes());
    if raw.len() < 4 || named[..4] != raw[..4] {
        return refuse(P::InvalidFunctionName {});
    }
    let Ok(inner) = Calls::abi_decode(raw) else {
        return refuse(P::FunctionNotAllowlisted {});
    };
    if !allowlisted(&inner) {
        return refuse(P::FunctionNotAllowlisted {});
    }
    if !super::payable(&inner) && !ctx.value.is_zero() {
        return refuse(P::NativeNotAllowed {});
    }
    let want = digest(p, user, &c._functionName, c._nonce, &inner, raw);
    if signer(&c._signature, want) != Some(user) {
        return refuse(P::SignatureValidationFailed {});
    }
    p.used_nonces.insert((user, c._nonce));
    let as_user = Ctx {
        sender: user,
        ..*ctx
    };
    let mut out = p.dispatch(&as_user, inner)?;
    out.emit(&P::MetaTransactionExecuted {
        userAddress: user,
        relayerAddress: ctx.sender,
        functionName: keccak256(c._functionName.as_bytes()),
        nonce: c._nonce,
    });
    Ok(out)
}
