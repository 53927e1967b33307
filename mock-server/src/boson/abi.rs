//! The protocol's ABI as the twin speaks it: the functions, events, errors and
//! structs of the Boson Protocol v2.5 diamond that the twin serves, declared in
//! Solidity and compiled by alloy's `sol!` into selectors, topics and codecs.
//!
//! The signatures are those of `@bosonprotocol/common` 1.32.2 (`src/abis/*.json`);
//! a test installs that package and checks every selector and topic here against it.
//! `getPausedRegions` is the pause facet's (`IBosonPauseHandler`), which that package
//! does not ship.

#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
// The generated event constructors take every field as an argument.
#![allow(clippy::too_many_arguments)]

use alloy::sol;

sol! {
    #[derive(Debug, Default, PartialEq, Eq)]
    library BosonTypes {
        struct RoyaltyInfo { address[] recipients; uint256[] bps; }
        struct Offer {
            uint256 id; uint256 sellerId; uint256 price; uint256 sellerDeposit;
            uint256 buyerCancelPenalty; uint256 quantityAvailable; address exchangeToken;
            uint8 priceType; uint8 creator; string metadataUri; string metadataHash;
            bool voided; uint256 collectionIndex; RoyaltyInfo[] royaltyInfo; uint256 buyerId;
        }
        struct OfferDates {
            uint256 validFrom; uint256 validUntil; uint256 voucherRedeemableFrom;
            uint256 voucherRedeemableUntil;
        }
        struct OfferDurations { uint256 disputePeriod; uint256 voucherValid; uint256 resolutionPeriod; }
        struct DRParameters { uint256 disputeResolverId; address mutualizerAddress; }
        struct DisputeResolutionTerms {
            uint256 disputeResolverId; uint256 escalationResponsePeriod; uint256 feeAmount;
            uint256 buyerEscalationDeposit; address mutualizerAddress;
        }
        struct OfferFees { uint256 protocolFee; uint256 agentFee; }
        struct Exchange {
            uint256 id; uint256 offerId; uint256 buyerId; uint256 finalizedDate; uint8 state;
            address mutualizerAddress;
        }
        struct Voucher { uint256 committedDate; uint256 validUntilDate; uint256 redeemedDate; bool expired; }
        struct Dispute { uint256 exchangeId; uint256 buyerPercent; uint8 state; }
        struct DisputeDates { uint256 disputed; uint256 escalated; uint256 finalized; uint256 timeout; }
        struct Seller {
            uint256 id; address assistant; address admin; address clerk; address treasury;
            bool active; string metadataUri;
        }
        struct AuthToken { uint256 tokenId; uint8 tokenType; }
        struct Buyer { uint256 id; address wallet; bool active; }
        struct Funds { address tokenAddress; string tokenName; uint256 availableAmount; }
    }

    #[derive(Debug, PartialEq, Eq)]
    library IDiamondCut {
        struct FacetCut { address facetAddress; uint8 action; bytes4[] functionSelectors; }
    }

    /// The calls, events and errors of the protocol diamond that the twin implements.
    #[derive(Debug, PartialEq, Eq)]
    interface IBosonProtocol {
        // Offers.
        function createOffer(
            BosonTypes.Offer _offer, BosonTypes.OfferDates _offerDates,
            BosonTypes.OfferDurations _offerDurations, BosonTypes.DRParameters _drParameters,
            uint256 _agentId, uint256 _feeLimit
        ) external;
        function voidOffer(uint256 _offerId) external;
        function getOffer(uint256 _offerId) external view returns (
            bool exists, BosonTypes.Offer offer, BosonTypes.OfferDates offerDates,
            BosonTypes.OfferDurations offerDurations,
            BosonTypes.DisputeResolutionTerms disputeResolutionTerms, BosonTypes.OfferFees offerFees
        );
        function getNextOfferId() external view returns (uint256 nextOfferId);

        // Exchanges.
        function commitToOffer(address _buyer, uint256 _offerId) external payable;
        function redeemVoucher(uint256 _exchangeId) external;
        function cancelVoucher(uint256 _exchangeId) external;
        function revokeVoucher(uint256 _exchangeId) external;
        function expireVoucher(uint256 _exchangeId) external;
        function completeExchange(uint256 _exchangeId) external;
        function getExchange(uint256 _exchangeId) external view returns (
            bool exists, BosonTypes.Exchange exchange, BosonTypes.Voucher voucher
        );
        function getExchangeState(uint256 _exchangeId) external view returns (bool exists, uint8 state);
        function getNextExchangeId() external view returns (uint256 nextExchangeId);

        // Disputes.
        function raiseDispute(uint256 _exchangeId) external;
        function retractDispute(uint256 _exchangeId) external;
        function resolveDispute(uint256 _exchangeId, uint256 _buyerPercent, bytes _signature) external;
        function escalateDispute(uint256 _exchangeId) external payable;
        function decideDispute(uint256 _exchangeId, uint256 _buyerPercent) external;
        function refuseEscalatedDispute(uint256 _exchangeId) external;
        function expireDispute(uint256 _exchangeId) external;
        function expireEscalatedDispute(uint256 _exchangeId) external;
        function extendDisputeTimeout(uint256 _exchangeId, uint256 _newDisputeTimeout) external;
        function getDispute(uint256 _exchangeId) external view returns (
            bool exists, BosonTypes.Dispute dispute, BosonTypes.DisputeDates disputeDates
        );
        function getDisputeState(uint256 _exchangeId) external view returns (bool exists, uint8 state);
        function getDisputeTimeout(uint256 _exchangeId) external view returns (bool exists, uint256 timeout);

        // Funds.
        function depositFunds(uint256 _entityId, address _tokenAddress, uint256 _amount) external payable;
        function withdrawFunds(uint256 _entityId, address[] _tokenList, uint256[] _tokenAmounts) external;
        function getAllAvailableFunds(uint256 _entityId) external view returns (BosonTypes.Funds[] availableFunds);

        // Accounts.
        function getSeller(uint256 _sellerId) external view returns (
            bool exists, BosonTypes.Seller seller, BosonTypes.AuthToken authToken
        );
        function getBuyer(uint256 _buyerId) external view returns (bool exists, BosonTypes.Buyer buyer);

        // Meta-transactions.
        function executeMetaTransaction(
            address _userAddress, string _functionName, bytes _functionSignature,
            uint256 _nonce, bytes _signature
        ) external payable returns (bytes);
        function isUsedNonce(address _associatedAddress, uint256 _nonce) external view returns (bool);

        // Upgrades (the diamond's own IDiamondCut).
        function diamondCut(IDiamondCut.FacetCut[] _diamondCut, address _init, bytes _calldata) external;

        // Pause (IBosonPauseHandler).
        function getPausedRegions() external view returns (uint8[] regions);

        event OfferCreated(
            uint256 indexed offerId, uint256 indexed sellerId, BosonTypes.Offer offer,
            BosonTypes.OfferDates offerDates, BosonTypes.OfferDurations offerDurations,
            BosonTypes.DisputeResolutionTerms disputeResolutionTerms, BosonTypes.OfferFees offerFees,
            uint256 indexed agentId, address executedBy
        );
        event OfferVoided(uint256 indexed offerId, uint256 indexed creatorId, address indexed executedBy);
        event BuyerCreated(uint256 indexed buyerId, BosonTypes.Buyer buyer, address indexed executedBy);
        event BuyerCommitted(
            uint256 indexed offerId, uint256 indexed buyerId, uint256 indexed exchangeId,
            BosonTypes.Exchange exchange, BosonTypes.Voucher voucher, address executedBy
        );
        event VoucherRedeemed(uint256 indexed offerId, uint256 indexed exchangeId, address indexed executedBy);
        event VoucherCanceled(uint256 indexed offerId, uint256 indexed exchangeId, address indexed executedBy);
        event VoucherRevoked(uint256 indexed offerId, uint256 indexed exchangeId, address indexed executedBy);
        event VoucherExpired(uint256 indexed offerId, uint256 indexed exchangeId, address indexed executedBy);
        event ExchangeCompleted(
            uint256 indexed offerId, uint256 indexed buyerId, uint256 indexed exchangeId, address executedBy
        );
        event DisputeRaised(
            uint256 indexed exchangeId, uint256 indexed buyerId, uint256 indexed sellerId, address executedBy
        );
        event DisputeRetracted(uint256 indexed exchangeId, address indexed executedBy);
        event DisputeResolved(uint256 indexed exchangeId, uint256 _buyerPercent, address indexed executedBy);
        event DisputeEscalated(
            uint256 indexed exchangeId, uint256 indexed disputeResolverId, address indexed executedBy
        );
        event DisputeDecided(uint256 indexed exchangeId, uint256 _buyerPercent, address indexed executedBy);
        event DisputeExpired(uint256 indexed exchangeId, address indexed executedBy);
        event EscalatedDisputeExpired(uint256 indexed exchangeId, address indexed executedBy);
        event EscalatedDisputeRefused(uint256 indexed exchangeId, address indexed executedBy);
        event DisputeTimeoutExtended(
            uint256 indexed exchangeId, uint256 newDisputeTimeout, address indexed executedBy
        );
        event FundsDeposited(
            uint256 indexed entityId, address indexed executedBy, address indexed tokenAddress, uint256 amount
        );
        event FundsEncumbered(
            uint256 indexed entityId, address indexed exchangeToken, uint256 amount, address indexed executedBy
        );
        event FundsReleased(
            uint256 indexed exchangeId, uint256 indexed entityId, address indexed exchangeToken,
            uint256 amount, address executedBy
        );
        event FundsWithdrawn(
            uint256 indexed sellerId, address indexed withdrawnTo, address indexed tokenAddress,
            uint256 amount, address executedBy
        );
        event ProtocolFeeCollected(
            uint256 indexed exchangeId, address indexed exchangeToken, uint256 amount, address indexed executedBy
        );
        event MetaTransactionExecuted(
            address indexed userAddress, address indexed relayerAddress, string indexed functionName,
            uint256 nonce
        );
        event DiamondCut(IDiamondCut.FacetCut[] _diamondCut, address _init, bytes _calldata);

        error NoSuchOffer();
        error NoSuchExchange();
        error NoSuchSeller();
        error NoSuchEntity();
        error OfferHasBeenVoided();
        error OfferNotAvailable();
        error OfferHasExpired();
        error OfferSoldOut();
        error InsufficientValueReceived();
        error NativeWrongAmount();
        error InsufficientAvailableFunds();
        error NothingToWithdraw();
        error TokenAmountMismatch();
        error InvalidState();
        error NotVoucherHolder();
        error NotAssistant();
        error NotAuthorized();
        error NotBuyerOrSeller();
        error NotBuyerWallet();
        error NotOfferCreator();
        error NotDisputeResolverAssistant();
        error VoucherNotRedeemable();
        error VoucherStillValid();
        error VoucherHasExpired();
        error DisputePeriodNotElapsed();
        error DisputePeriodHasElapsed();
        error DisputeHasExpired();
        error DisputeStillValid();
        error InvalidDisputeTimeout();
        error EscalationNotAllowed();
        error InvalidBuyerPercent();
        error SignatureValidationFailed();
        error InvalidSignature();
        error RegionPaused(uint8 region);
        error NonceUsedAlready();
        error FunctionNotAllowlisted();
        error InvalidFunctionName();
        error InvalidOfferPeriod();
        error AmbiguousVoucherExpiry();
        error InvalidRedemptionPeriod();
        error InvalidDisputePeriod();
        error InvalidResolutionPeriod();
        error InvalidQuantityAvailable();
        error InvalidOfferPenalty();
        error InvalidPriceType();
        error InvalidOfferCreator();
        error InvalidDisputeResolver();
        error ValueZeroNotAllowed();
        error NativeNotAllowed();
        error AccessDenied();
        error TokenTransferFailed();
    }
}

sol! {
    /// The EIP-712 structs Boson's meta-transactions sign (core-sdk
    /// `src/meta-tx/handler.ts`, the contracts' `MetaTransactionsHandlerFacet`).
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTransaction {
        uint256 nonce; address from; address contractAddress; string functionName;
        bytes functionSignature;
    }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxExchangeDetails { uint256 exchangeId; }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxExchange {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxExchangeDetails exchangeDetails;
    }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxOfferDetails { address buyer; uint256 offerId; }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxCommitToOffer {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxOfferDetails offerDetails;
    }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxFundDetails { uint256 entityId; address[] tokenList; uint256[] tokenAmounts; }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxFund {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxFundDetails fundDetails;
    }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxDisputeResolutionDetails {
        uint256 exchangeId; uint256 buyerPercentBasisPoints; bytes signature;
    }
    #[derive(Debug, PartialEq, Eq)]
    struct MetaTxDisputeResolution {
        uint256 nonce; address from; address contractAddress; string functionName;
        MetaTxDisputeResolutionDetails disputeResolutionDetails;
    }
    /// What the other party of a dispute countersigns to settle it.
    #[derive(Debug, PartialEq, Eq)]
    struct Resolution { uint256 exchangeId; uint256 buyerPercentBasisPoints; }
}

/// Signatures the twin declares that `@bosonprotocol/common` does not ship: the
/// pause facet's getter and the diamond's own `diamondCut`.
pub const NOT_IN_COMMON: [&str; 2] = [
    "getPausedRegions()",
    "diamondCut((address,uint8,bytes4[])[],address,bytes)",
];

/// Every function, event and error the twin knows, with its selector or topic, as
/// JSON for the test that checks them against the published ABIs.
pub fn manifest() -> serde_json::Value {
    use IBosonProtocol::{
        IBosonProtocolCalls as C, IBosonProtocolErrors as E, IBosonProtocolEvents as V,
    };
    fn list<const N: usize>(sigs: &[&str], sels: &[[u8; N]]) -> Vec<serde_json::Value> {
        sigs.iter()
            .zip(sels)
            .map(|(sig, sel)| {
                serde_json::json!({"signature": sig, "selector": format!("0x{}", alloy::hex::encode(sel))})
            })
            .collect()
    }
    serde_json::json!({
        "functions": list(C::SIGNATURES, C::SELECTORS),
        "events": list(V::SIGNATURES, V::SELECTORS),
        "errors": list(E::SIGNATURES, E::SELECTORS),
        "absent": NOT_IN_COMMON,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::sol_types::{SolCall, SolError, SolEvent};

    #[test]
    fn selectors_match_the_published_values() {
        // Values from the research notes (computed from @bosonprotocol/common's ABIs).
        assert_eq!(
            IBosonProtocol::NoSuchExchange::SELECTOR,
            [0x43, 0x7d, 0x9d, 0xd3]
        );
        assert_eq!(
            IBosonProtocol::InvalidState::SELECTOR,
            [0xba, 0xf3, 0xf0, 0xf7]
        );
        assert_eq!(
            IBosonProtocol::NonceUsedAlready::SELECTOR,
            [0xc1, 0xe5, 0x31, 0x1e]
        );
        assert_eq!(
            IBosonProtocol::commitToOfferCall::SIGNATURE,
            "commitToOffer(address,uint256)"
        );
        assert!(
            IBosonProtocol::BuyerCommitted::SIGNATURE
                .starts_with("BuyerCommitted(uint256,uint256,uint256,(")
        );
    }
}
