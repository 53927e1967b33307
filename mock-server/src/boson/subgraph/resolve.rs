//! The one resolver every field of the subgraph's schema uses: read the parent
//! entity's field, follow a reference to another entity (by id, through an
//! interface's implementations), list the entities that point back (derived
//! fields), or answer a root collection with graph-node's arguments.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::dynamic::{FieldValue, ResolverContext};
use async_graphql::{Name, Value as Gql};
use serde_json::{Map, Value, json};

use super::entities::{Entity, Store};
use super::filter::{self, Page};
use super::schema::{Kind, Shape};
use crate::boson::chain::actions::ReadLog;

/// Lists that the subgraph derives from the other side's reference
/// (`@derivedFrom`): (type, field) → (the type that points back, its field).
const DERIVED: [(&str, &str, &str, &str); 15] = [
    ("Seller", "logs", "EventLog", "account"),
    ("Buyer", "logs", "EventLog", "account"),
    ("DisputeResolver", "logs", "EventLog", "account"),
    ("Account", "logs", "EventLog", "account"),
    ("Offer", "exchanges", "Exchange", "offer"),
    ("Seller", "offers", "Offer", "seller"),
    ("Seller", "exchanges", "Exchange", "seller"),
    ("Seller", "funds", "FundsEntity", "account"),
    ("Buyer", "exchanges", "Exchange", "buyer"),
    ("Buyer", "funds", "FundsEntity", "account"),
    ("DisputeResolver", "offers", "Offer", "disputeResolver"),
    ("DisputeResolver", "funds", "FundsEntity", "account"),
    ("ExchangeToken", "offers", "Offer", "exchangeToken"),
    ("ExchangeToken", "funds", "FundsEntity", "token"),
    ("Account", "funds", "FundsEntity", "account"),
];

/// What the subgraph's deployment is called in `_meta` and in its errors.
pub const DEPLOYMENT: &str = "QmGauntletTwinBosonCoreComponents";

type Out = async_graphql::Result<Option<FieldValue<'static>>>;

/// An entity as a field's value; under an interface it names its concrete type.
/// An exchange shown is noted in the twin's read log (with the indexed block it
/// came from), so an action that follows a stale read can be told.
fn node(
    ctx: &ResolverContext<'_>,
    store: &Store,
    e: &Entity,
    abstract_type: bool,
) -> FieldValue<'static> {
    if e.ty == "Exchange"
        && let (Ok(reads), Some(block)) = (ctx.data::<Arc<ReadLog>>(), &store.block)
        && let Ok(id) = e.id().parse::<u64>()
    {
        reads.saw(id, block.number);
    }
    let v = FieldValue::owned_any(e.clone());
    if abstract_type {
        v.with_type(e.ty.to_string())
    } else {
        v
    }
}

/// Resolve field `name` of type `ty`.
pub fn field(ctx: &ResolverContext<'_>, shape: &Shape, ty: &str, name: &str) -> Out {
    let store = ctx.data::<Arc<Store>>()?.clone();
    let Some(ft) = shape.field(ty, name) else {
        return Ok(None);
    };
    if ty == "Query" {
        return root(ctx, &store, shape, name);
    }
    let parent = ctx.parent_value.try_downcast_ref::<Entity>()?;
    let raw = parent.fields.get(name).unwrap_or(&Value::Null);
    let abs = shape.kind(&ft.base) == Kind::Interface;
    match shape.kind(&ft.base) {
        Kind::Object | Kind::Interface if ft.list => {
            let back = DERIVED
                .iter()
                .find(|(t, f, _, _)| (*t == parent.ty || *t == ty) && *f == name);
            let items: Vec<&Entity> = match back {
                Some((_, _, child, field)) => shape
                    .concrete(child)
                    .into_iter()
                    .flat_map(|t| store.all(t))
                    .filter(|e| e.fields.get(*field).and_then(Value::as_str) == Some(parent.id()))
                    .collect(),
                None => refs(&store, shape, &ft.base, raw),
            };
            let page = page_args(ctx);
            let out = filter::page(&store, shape, items.into_iter(), &page);
            Ok(Some(FieldValue::list(
                out.into_iter().map(|e| node(ctx, &store, e, abs)),
            )))
        }
        Kind::Object | Kind::Interface => Ok(match raw {
            Value::String(id) => shape
                .lookup(&store, &ft.base, id)
                .map(|e| node(ctx, &store, e, abs)),
            Value::Object(fields) => Some(node(
                ctx,
                &store,
                &Entity {
                    ty: Cow::Owned(ft.base.clone()),
                    fields: Arc::new(fields.clone()),
                },
                abs,
            )),
            _ => None,
        }),
        Kind::Enum => Ok(raw
            .as_str()
            .map(|s| FieldValue::value(Gql::Enum(Name::new(s))))),
        _ if raw.is_null() => Ok(None),
        _ => Ok(Some(FieldValue::value(Gql::from_json(raw.clone())?))),
    }
}

/// Entities a list field names by id (or holds inline).
fn refs<'a>(store: &'a Store, shape: &Shape, ty: &str, raw: &Value) -> Vec<&'a Entity> {
    raw.as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .filter_map(|id| shape.lookup(store, ty, id))
                .collect()
        })
        .unwrap_or_default()
}

/// `first`, `skip`, `orderBy`, `orderDirection`, `where` of a collection field.
fn page_args(ctx: &ResolverContext<'_>) -> Page {
    let args = &ctx.args;
    Page {
        filter: args
            .get("where")
            .and_then(|v| v.as_value().clone().into_json().ok()),
        order_by: args
            .get("orderBy")
            .and_then(|v| v.enum_name().ok().map(str::to_string)),
        descending: args
            .get("orderDirection")
            .is_some_and(|v| v.enum_name().ok() == Some("desc")),
        skip: args.get("skip").and_then(|v| v.u64().ok()).unwrap_or(0),
        first: args.get("first").and_then(|v| v.u64().ok()).unwrap_or(100),
    }
}

fn root(ctx: &ResolverContext<'_>, store: &Store, shape: &Shape, name: &str) -> Out {
    if name == "_meta" {
        return Ok(Some(node(ctx, store, &meta(store), false)));
    }
    let Some(ft) = shape.field("Query", name) else {
        return Ok(None);
    };
    let abs = shape.kind(&ft.base) == Kind::Interface;
    if !ft.list {
        let id = ctx.args.try_get("id")?.string()?.to_string();
        return Ok(shape
            .lookup(store, &ft.base, &id)
            .map(|e| node(ctx, store, e, abs)));
    }
    let items: Vec<&Entity> = shape
        .concrete(&ft.base)
        .into_iter()
        .flat_map(|t| store.all(t))
        .collect();
    let page = page_args(ctx);
    let out = filter::page(store, shape, items.into_iter(), &page);
    Ok(Some(FieldValue::list(
        out.into_iter().map(|e| node(ctx, store, e, abs)),
    )))
}

/// `_meta`: the indexed block and the deployment.
fn meta(store: &Store) -> Entity {
    let block = store.block.as_ref().map_or(Value::Null, |b| {
        json!({"number": b.number, "hash": b.hash, "timestamp": b.timestamp,
            "parentHash": b.parent_hash})
    });
    let fields: Map<String, Value> = match json!({"block": block, "deployment": DEPLOYMENT,
        "hasIndexingErrors": false})
    {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Entity {
        ty: Cow::Borrowed("_Meta_"),
        fields: Arc::new(fields),
    }
}
