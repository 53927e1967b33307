//! The subgraph's entities as the Boson subgraph's mappings would have written
//! them, built from the protocol's state at the indexed block: Offer, Exchange,
//! Dispute, Seller, Buyer, DisputeResolver, DisputeResolutionTermsEntity,
//! ExchangeToken, FundsEntity. Values follow graph-node's wire forms: BigInt as a
//! decimal string, Bytes as lowercase hex, references as the other entity's id.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use alloy::primitives::{Address, U256};
use serde_json::{Map, Value, json};

use super::logs::{self, Source};
use crate::boson::protocol::{DisputeState, Exchange, ExchangeState, NATIVE, Offer, Protocol};

/// One entity: its type and its fields.
#[derive(Debug, Clone)]
pub struct Entity {
    pub ty: Cow<'static, str>,
    pub fields: Arc<Map<String, Value>>,
}

impl Entity {
    pub fn id(&self) -> &str {
        self.fields
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// The block an index stands at (`_meta.block`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedBlock {
    pub number: u64,
    pub hash: String,
    pub parent_hash: String,
    pub timestamp: u64,
}

type Tables = HashMap<&'static str, BTreeMap<String, Entity>>;

/// Every entity at one block, by type and id. The event logs are made from
/// their source the first time a query reads one.
#[derive(Debug, Default)]
pub struct Store {
    pub block: Option<IndexedBlock>,
    by_type: Tables,
    log_source: Option<Source>,
    logs: OnceLock<Tables>,
    /// The store this one is built after, while it is built: an entity whose fields
    /// did not change shares them rather than holding a second copy.
    prev: Option<Arc<Store>>,
}

fn big(v: U256) -> Value {
    Value::String(v.to_string())
}

fn n(v: u64) -> Value {
    Value::String(v.to_string())
}

fn opt_date(v: u64) -> Value {
    if v == 0 { Value::Null } else { n(v) }
}

fn bytes(a: Address) -> Value {
    Value::String(format!("{a:#x}"))
}

const ZERO: &str = "0x0000000000000000000000000000000000000000";

impl Store {
    /// The entities of `p` as of `block`.
    pub fn build(p: &Protocol, block: IndexedBlock) -> Self {
        Self::build_after(p, block, None)
    }

    /// The entities of `p` as of `block`, sharing every entity unchanged since
    /// `prev` (the store of an earlier block) with it: consecutive stores hold one
    /// copy of what did not change, not two.
    pub fn build_after(p: &Protocol, block: IndexedBlock, prev: Option<Arc<Store>>) -> Self {
        let mut s = Self {
            block: Some(block),
            prev,
            ..Self::default()
        };
        s.insert("ExchangeToken", token());
        for (id, seller) in &p.sellers {
            let a = bytes(seller.assistant);
            s.insert(
                "Seller",
                json!({"id": id.to_string(), "sellerId": n(*id), "assistant": a, "admin": a,
                    "clerk": ZERO, "treasury": bytes(seller.treasury), "active": true,
                    "authTokenId": "0", "authTokenType": 0, "voucherCloneAddress": ZERO,
                    "metadataUri": "", "collections": [], "royaltyRecipients": []}),
            );
        }
        for (id, b) in &p.buyers {
            s.insert(
                "Buyer",
                json!({"id": id.to_string(), "wallet": bytes(b.wallet), "active": true}),
            );
        }
        for (id, r) in &p.resolvers {
            let a = bytes(r.assistant);
            s.insert(
                "DisputeResolver",
                json!({"id": id.to_string(), "escalationResponsePeriod": n(r.escalation_response_period),
                    "admin": a, "clerk": ZERO, "treasury": a, "assistant": a, "metadataUri": "",
                    "active": true, "sellerAllowList": [], "fees": []}),
            );
        }
        // Commits and redemptions per offer, in one pass over the exchanges.
        let mut tally: HashMap<u64, (u64, u64)> = HashMap::new();
        for x in p.exchanges.values() {
            let t = tally.entry(x.offer_id).or_default();
            t.0 += 1;
            t.1 += u64::from(x.redeemed > 0);
        }
        for o in p.offers.values() {
            let (commits, redeemed) = tally.get(&o.id).copied().unwrap_or_default();
            s.offer(p, o, commits, redeemed);
        }
        for x in p.exchanges.values() {
            s.exchange(p, x);
        }
        for ((entity, token), amount) in &p.funds {
            let id = format!("{entity}-{token:#x}");
            s.insert(
                "FundsEntity",
                json!({"id": id, "availableAmount": big(*amount), "tokenAddress": bytes(*token),
                    "token": format!("{token:#x}"), "accountId": n(*entity), "account": entity.to_string()}),
            );
        }
        s.prev = None;
        s
    }

    /// The event logs this store answers with, made on first read.
    pub fn with_logs(mut self, src: Source) -> Self {
        self.log_source = Some(src);
        self
    }

    fn insert(&mut self, ty: &'static str, v: Value) {
        let prev = self.prev.as_ref().map(|p| &p.by_type);
        insert(&mut self.by_type, ty, v, prev);
    }

    /// Whether `other` holds the very same fields for this entity (shared, not
    /// copied).
    pub fn shares(&self, other: &Store, ty: &str, id: &str) -> bool {
        match (self.get(ty, id), other.get(ty, id)) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.fields, &b.fields),
            _ => false,
        }
    }

    fn table(&self, ty: &str) -> Option<&BTreeMap<String, Entity>> {
        if !logs::is_log_type(ty) {
            return self.by_type.get(ty);
        }
        let logs = self.logs.get_or_init(|| {
            let mut t = Tables::new();
            for (ty, v) in self.log_source.iter().flat_map(logs::entities) {
                insert(&mut t, ty, v, None);
            }
            t
        });
        logs.get(ty)
    }

    fn offer(&mut self, p: &Protocol, o: &Offer, commits: u64, redeemed: u64) {
        let id = o.id.to_string();
        let terms = format!("{}-{}-terms", o.resolver_id, o.id);
        self.insert(
            "Offer",
            json!({"id": id, "createdAt": n(o.valid_from), "price": big(o.price),
                "sellerDeposit": big(o.seller_deposit), "protocolFee": big(o.protocol_fee),
                "agentFee": "0", "agentId": "0", "buyerCancelPenalty": big(o.buyer_cancel_penalty),
                "quantityAvailable": big(o.quantity_available), "quantityInitial": big(o.quantity_initial),
                "validFromDate": n(o.valid_from), "validUntilDate": n(o.valid_until),
                "voucherRedeemableFromDate": n(o.redeemable_from),
                "voucherRedeemableUntilDate": n(o.redeemable_until),
                "disputePeriodDuration": n(o.dispute_period), "voucherValidDuration": n(o.voucher_valid),
                "resolutionPeriodDuration": n(o.resolution_period), "metadataUri": o.metadata_uri,
                "metadataHash": o.metadata_hash, "voided": o.voided, "voidedAt": Value::Null,
                "collectionIndex": "0", "disputeResolverId": n(o.resolver_id),
                "disputeResolver": o.resolver_id.to_string(), "disputeResolutionTerms": terms,
                "sellerId": n(o.seller_id), "seller": o.seller_id.to_string(), "buyerId": "0",
                "creator": 0, "priceType": 0, "exchangeToken": format!("{:#x}", o.token),
                "numberOfCommits": n(commits), "numberOfRedemptions": n(redeemed), "royaltyInfos": []}),
        );
        let deposit = o.escalation_deposit(p.rules.escalation_deposit_bps);
        self.insert(
            "DisputeResolutionTermsEntity",
            json!({"id": terms, "disputeResolverId": n(o.resolver_id),
                "disputeResolver": o.resolver_id.to_string(),
                "escalationResponsePeriod": n(o.escalation_response_period), "feeAmount": big(o.dr_fee),
                "buyerEscalationDeposit": big(deposit), "mutualizerAddress": ZERO, "offer": o.id.to_string()}),
        );
    }

    fn exchange(&mut self, p: &Protocol, x: &Exchange) {
        let id = x.id.to_string();
        let resolver = p.offers.get(&x.offer_id).map_or(0, |o| o.resolver_id);
        let state = match x.state {
            ExchangeState::Committed => "COMMITTED",
            ExchangeState::Revoked => "REVOKED",
            ExchangeState::Canceled => "CANCELLED",
            ExchangeState::Redeemed => "REDEEMED",
            ExchangeState::Completed => "COMPLETED",
            ExchangeState::Disputed => "DISPUTED",
        };
        let at = |s: ExchangeState| {
            if x.state == s {
                opt_date(x.finalized)
            } else {
                Value::Null
            }
        };
        let d = x.dispute.as_ref();
        self.insert(
            "Exchange",
            json!({"id": id, "offer": x.offer_id.to_string(), "buyer": x.buyer_id.to_string(),
                "seller": x.seller_id.to_string(), "disputeResolver": resolver.to_string(),
                "disputed": d.is_some(), "state": state, "committedDate": n(x.committed),
                "finalizedDate": opt_date(x.finalized), "validUntilDate": n(x.valid_until),
                "redeemedDate": opt_date(x.redeemed), "revokedDate": at(ExchangeState::Revoked),
                "cancelledDate": at(ExchangeState::Canceled), "completedDate": at(ExchangeState::Completed),
                "disputedDate": d.map_or(Value::Null, |d| n(d.disputed)), "expired": x.expired,
                "mutualizerAddress": ZERO, "dispute": d.map(|_| id.clone()),
                "protocolFeeCollected": Value::Null}),
        );
        if let Some(d) = d {
            let state = match d.state {
                DisputeState::Resolving => "RESOLVING",
                DisputeState::Retracted => "RETRACTED",
                DisputeState::Resolved => "RESOLVED",
                DisputeState::Escalated => "ESCALATED",
                DisputeState::Decided => "DECIDED",
                DisputeState::Refused => "REFUSED",
            };
            let end = |s: DisputeState| {
                if d.state == s {
                    opt_date(d.finalized)
                } else {
                    Value::Null
                }
            };
            self.insert(
                "Dispute",
                json!({"id": id, "exchangeId": n(x.id), "exchange": id, "buyer": x.buyer_id.to_string(),
                    "seller": x.seller_id.to_string(), "disputeResolver": resolver.to_string(),
                    "state": state, "buyerPercent": n(d.buyer_percent), "disputedDate": n(d.disputed),
                    "escalatedDate": opt_date(d.escalated), "finalizedDate": opt_date(d.finalized),
                    "retractedDate": end(DisputeState::Retracted), "resolvedDate": end(DisputeState::Resolved),
                    "decidedDate": end(DisputeState::Decided), "refusedDate": end(DisputeState::Refused),
                    "timeout": n(d.timeout)}),
            );
        }
    }

    /// An entity by type and id.
    pub fn get(&self, ty: &str, id: &str) -> Option<&Entity> {
        self.table(ty)?.get(id)
    }

    /// Every entity of a type, ordered by id.
    pub fn all(&self, ty: &str) -> impl Iterator<Item = &Entity> {
        self.table(ty).into_iter().flat_map(|m| m.values())
    }
}

/// Add an entity (its fields as a JSON object with an `id`) to `t`, sharing the
/// fields of the same entity in `prev` when they are equal.
fn insert(t: &mut Tables, ty: &'static str, v: Value, prev: Option<&Tables>) {
    let Value::Object(fields) = v else { return };
    let id = fields
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let shared = prev
        .and_then(|p| p.get(ty)?.get(&id))
        .filter(|e| *e.fields == fields)
        .map(|e| e.fields.clone());
    let e = Entity {
        ty: Cow::Borrowed(ty),
        fields: shared.unwrap_or_else(|| Arc::new(fields)),
    };
    t.entry(ty).or_default().insert(id, e);
}

/// The native currency as the subgraph's ExchangeToken.
fn token() -> Value {
    json!({"id": format!("{NATIVE:#x}"), "address": bytes(NATIVE), "decimals": "18",
        "symbol": "ETH", "name": "Native currency"})
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::{IndexedBlock, Store};
    use crate::boson::Boson;
    use crate::boson::protocol::Protocol;
    use crate::boson::testkit::{commit, rpc, twin};

    fn block(number: u64) -> IndexedBlock {
        IndexedBlock {
            number,
            hash: String::new(),
            parent_hash: String::new(),
            timestamp: 0,
        }
    }

    fn commit_and_read(b: &Boson, buyer: usize) -> Protocol {
        rpc(
            b,
            Duration::ZERO,
            "eth_sendRawTransaction",
            json!([commit(b, buyer, 0)]),
        )
        .expect("admitted");
        b.chain().state().protocol.clone()
    }

    #[test]
    fn a_store_shares_the_entities_unchanged_since_the_one_before() {
        let b = twin(Duration::ZERO);
        let first = Arc::new(Store::build(&commit_and_read(&b, 0), block(1)));
        let p = commit_and_read(&b, 1);
        let second = Store::build_after(&p, block(2), Some(first.clone()));
        assert!(second.get("Exchange", "2").is_some(), "the new exchange");
        assert!(
            second.shares(&first, "Exchange", "1"),
            "exchange 1 is unchanged"
        );
        assert!(
            !second.shares(&first, "Offer", "1"),
            "the offer's commits went up"
        );
        assert_eq!(
            second
                .get("Offer", "1")
                .map(|o| o.fields["numberOfCommits"].clone()),
            Some(json!("2"))
        );
        let alone = Store::build(&p, block(2));
        assert!(
            !alone.shares(&first, "Exchange", "1"),
            "built alone: a copy"
        );
    }
}
