//! The protocol's records: accounts, offers, exchanges with their vouchers, disputes.

use alloy::primitives::{Address, U256};

/// A seller: its assistant acts for it, its treasury receives withdrawals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seller {
    pub id: u64,
    pub assistant: Address,
    pub treasury: Address,
}

/// A buyer entity, created at its wallet's first commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buyer {
    pub id: u64,
    pub wallet: Address,
}

/// A dispute resolver: decides or refuses escalated disputes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    pub id: u64,
    pub assistant: Address,
    pub escalation_response_period: u64,
    /// The resolver's fee, in the native token; the escalation deposit is a share of it.
    pub fee: U256,
}

/// An offer with its dates and durations (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: u64,
    pub seller_id: u64,
    pub price: U256,
    pub seller_deposit: U256,
    pub buyer_cancel_penalty: U256,
    pub quantity_available: U256,
    pub quantity_initial: U256,
    pub token: Address,
    pub metadata_uri: String,
    pub metadata_hash: String,
    pub voided: bool,
    pub valid_from: u64,
    pub valid_until: u64,
    pub redeemable_from: u64,
    pub redeemable_until: u64,
    pub voucher_valid: u64,
    pub dispute_period: u64,
    pub resolution_period: u64,
    pub resolver_id: u64,
    pub escalation_response_period: u64,
    /// The resolver's fee at offer creation (`DisputeResolutionTerms.feeAmount`).
    pub dr_fee: U256,
    pub protocol_fee: U256,
}

impl Offer {
    /// The buyer's escalation deposit: a share of the resolver's fee.
    pub fn escalation_deposit(&self, bps: u64) -> U256 {
        self.dr_fee * U256::from(bps) / U256::from(super::BPS)
    }
}

/// The exchange states, in the contracts' enum order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExchangeState {
    Committed = 0,
    Revoked = 1,
    Canceled = 2,
    Redeemed = 3,
    Completed = 4,
    Disputed = 5,
}

impl ExchangeState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Committed => "Committed",
            Self::Revoked => "Revoked",
            Self::Canceled => "Canceled",
            Self::Redeemed => "Redeemed",
            Self::Completed => "Completed",
            Self::Disputed => "Disputed",
        }
    }
}

/// The dispute states, in the contracts' enum order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisputeState {
    Resolving = 0,
    Retracted = 1,
    Resolved = 2,
    Escalated = 3,
    Decided = 4,
    Refused = 5,
}

impl DisputeState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Resolving => "Resolving",
            Self::Retracted => "Retracted",
            Self::Resolved => "Resolved",
            Self::Escalated => "Escalated",
            Self::Decided => "Decided",
            Self::Refused => "Refused",
        }
    }

    /// A dispute in this state is over (its exchange stays `Disputed`).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Resolving | Self::Escalated)
    }
}

/// A dispute and its dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub state: DisputeState,
    pub buyer_percent: u64,
    pub disputed: u64,
    pub escalated: u64,
    pub finalized: u64,
    pub timeout: u64,
}

/// An exchange, its voucher, its dispute, and the funds it holds until finality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub id: u64,
    pub offer_id: u64,
    pub buyer_id: u64,
    pub seller_id: u64,
    pub state: ExchangeState,
    pub committed: u64,
    pub valid_until: u64,
    pub redeemed: u64,
    pub finalized: u64,
    pub expired: bool,
    pub dispute: Option<Dispute>,
    /// The price the buyer paid (L).
    pub paid: U256,
    /// The seller's deposit encumbered at commit (D).
    pub deposit: U256,
    /// The buyer's escalation deposit (E), once escalated.
    pub escalation: U256,
    pub token: Address,
}

impl Exchange {
    /// What the exchange holds: everything paid in, all of it paid out at finality.
    pub fn held(&self) -> U256 {
        self.paid + self.deposit + self.escalation
    }

    /// Final: no call moves it again and its funds are released.
    pub fn is_final(&self) -> bool {
        match self.state {
            ExchangeState::Committed | ExchangeState::Redeemed => false,
            ExchangeState::Disputed => self.dispute.as_ref().is_some_and(|d| d.state.is_final()),
            _ => true,
        }
    }
}
