//! Event logs as the Boson subgraph records them: one entity per protocol event
//! on the canonical chain up to the indexed block, typed by what it concerns
//! (ExchangeEventLog, DisputeEventLog, FundsEventLog, OfferEventLog), with the
//! account it belongs to and the id `${txHash}-${logIndex}-${account}`.
//!
//! They are many (several per exchange) and few queries read them, so a store
//! makes them only when a query first asks for one ([`Source`]). Only the logs of
//! blocks within the chain's history horizon are listed (`chain::history`): a
//! day's soak would otherwise hold every log it ever made.

use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::SolEventInterface;
use serde_json::{Value, json};

use crate::boson::abi::IBosonProtocol::IBosonProtocolEvents as E;
use crate::boson::chain::{Block, Chain};
use crate::boson::protocol::Protocol;

/// What the event logs up to an indexed block are made from: the canonical
/// blocks up to it and the protocol there (for the accounts). Cheap to keep:
/// the blocks are shared, the protocol's maps are persistent.
#[derive(Debug, Clone)]
pub struct Source {
    blocks: Vec<Arc<Block>>,
    protocol: Protocol,
}

impl Source {
    /// The logs of the blocks of `chain` up to `upto` whose bodies it keeps (its
    /// history horizon), read with `p` (the protocol at the indexed block).
    pub fn new(chain: &Chain, upto: u64, p: &Protocol) -> Self {
        Self {
            blocks: chain.range(chain.pruned_below(), upto).cloned().collect(),
            protocol: p.clone(),
        }
    }
}

/// Whether entities of this type are event logs (made on first read).
pub fn is_log_type(ty: &str) -> bool {
    ty.ends_with("EventLog")
}

/// What one protocol event becomes: its type, its account, and the entity it
/// concerns (`exchange`, `dispute`, `funds` or `offer`, by id).
struct Logged {
    kind: &'static str,
    account: u64,
    about: (&'static str, String),
    extra: Option<(&'static str, Value)>,
}

fn id(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn exchange_event(p: &Protocol, kind: &'static str, exchange: U256, seller: bool) -> Logged {
    let x = p.exchanges.get(&id(exchange));
    let account = x.map_or(0, |x| if seller { x.seller_id } else { x.buyer_id });
    Logged {
        kind,
        account,
        about: ("exchange", id(exchange).to_string()),
        extra: None,
    }
}

fn dispute_event(p: &Protocol, kind: &'static str, exchange: U256) -> Logged {
    let account = p.exchanges.get(&id(exchange)).map_or(0, |x| x.buyer_id);
    Logged {
        kind,
        account,
        about: ("dispute", id(exchange).to_string()),
        extra: None,
    }
}

fn funds_event(kind: &'static str, entity: U256, token: Address, amount: U256) -> Logged {
    Logged {
        kind,
        account: id(entity),
        about: ("funds", format!("{}-{token:#x}", id(entity))),
        extra: Some(("amount", Value::String(amount.to_string()))),
    }
}

/// The subgraph's reading of one event; `None` for events it does not log.
fn logged(p: &Protocol, e: &E) -> Option<Logged> {
    Some(match e {
        E::BuyerCommitted(c) => exchange_event(p, "BUYER_COMMITTED", c.exchangeId, false),
        E::VoucherRedeemed(c) => exchange_event(p, "VOUCHER_REDEEMED", c.exchangeId, false),
        E::VoucherCanceled(c) => exchange_event(p, "VOUCHER_CANCELED", c.exchangeId, false),
        E::VoucherRevoked(c) => exchange_event(p, "VOUCHER_REVOKED", c.exchangeId, true),
        E::VoucherExpired(c) => exchange_event(p, "VOUCHER_EXPIRED", c.exchangeId, false),
        E::ExchangeCompleted(c) => exchange_event(p, "EXCHANGE_COMPLETED", c.exchangeId, false),
        E::DisputeRaised(c) => dispute_event(p, "DISPUTE_RAISED", c.exchangeId),
        E::DisputeRetracted(c) => dispute_event(p, "DISPUTE_RETRACTED", c.exchangeId),
        E::DisputeResolved(c) => dispute_event(p, "DISPUTE_RESOLVED", c.exchangeId),
        E::DisputeEscalated(c) => dispute_event(p, "DISPUTE_ESCALATED", c.exchangeId),
        E::DisputeDecided(c) => dispute_event(p, "DISPUTE_DECIDED", c.exchangeId),
        E::DisputeExpired(c) => dispute_event(p, "DISPUTE_EXPIRED", c.exchangeId),
        E::EscalatedDisputeExpired(c) => {
            dispute_event(p, "ESCALATED_DISPUTE_EXPIRED", c.exchangeId)
        }
        E::EscalatedDisputeRefused(c) => {
            dispute_event(p, "ESCALATED_DISPUTE_REFUSED", c.exchangeId)
        }
        E::DisputeTimeoutExtended(c) => dispute_event(p, "DISPUTE_TIMEOUT_EXTENDED", c.exchangeId),
        E::FundsDeposited(c) => {
            funds_event("FUNDS_DEPOSITED", c.entityId, c.tokenAddress, c.amount)
        }
        E::FundsWithdrawn(c) => {
            funds_event("FUNDS_WITHDRAWN", c.sellerId, c.tokenAddress, c.amount)
        }
        E::FundsReleased(c) => funds_event("FUNDS_RELEASED", c.entityId, c.exchangeToken, c.amount),
        E::FundsEncumbered(c) => {
            funds_event("FUNDS_ENCUMBERED", c.entityId, c.exchangeToken, c.amount)
        }
        E::OfferCreated(c) => Logged {
            kind: "OFFER_CREATED",
            account: id(c.sellerId),
            about: ("offer", id(c.offerId).to_string()),
            extra: None,
        },
        E::OfferVoided(c) => Logged {
            kind: "OFFER_VOIDED",
            account: id(c.creatorId),
            about: ("offer", id(c.offerId).to_string()),
            extra: None,
        },
        _ => return None,
    })
}

fn entity_type(about: &str) -> &'static str {
    match about {
        "exchange" => "ExchangeEventLog",
        "dispute" => "DisputeEventLog",
        "funds" => "FundsEventLog",
        _ => "OfferEventLog",
    }
}

/// Every event log of `src`, as (entity type, fields).
pub fn entities(src: &Source) -> Vec<(&'static str, Value)> {
    let p = &src.protocol;
    let mut out = Vec::new();
    for block in &src.blocks {
        for m in &block.txs {
            for (i, log) in m.effect.logs.iter().enumerate() {
                let topics: Vec<B256> = log.topics().to_vec();
                let Ok(event) = E::decode_raw_log(&topics, &log.data) else {
                    continue;
                };
                let Some(l) = logged(p, &event) else { continue };
                let index = m.first_log + i as u64;
                let mut fields = json!({
                    "id": format!("{:#x}-{index}-{}", m.tx.hash, l.account),
                    "hash": format!("{:#x}", m.tx.hash),
                    "type": l.kind,
                    "timestamp": block.timestamp().to_string(),
                    "executedBy": format!("{:#x}", m.tx.from),
                    "account": l.account.to_string(),
                    l.about.0: l.about.1,
                });
                if let Some((k, v)) = l.extra {
                    fields[k] = v;
                }
                out.push((entity_type(l.about.0), fields));
            }
        }
    }
    out
}
