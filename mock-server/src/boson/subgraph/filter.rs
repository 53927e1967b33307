//! graph-node's collection arguments over the twin's entities: `where` (the field
//! itself, `_not`, `_gt`, `_gte`, `_lt`, `_lte`, `_in`, `_not_in`, `_contains`,
//! `_not_contains`, `_starts_with`, `_ends_with`, a nested `field_` filter on the
//! referenced entity, `and`, `or`), `orderBy`, `orderDirection`, `skip`, `first`.

use std::cmp::Ordering;

use alloy::primitives::U256;
use serde_json::Value;

use super::entities::{Entity, Store};
use super::schema::Shape;

/// Suffixes in the order they must be tried (longest first where one ends another).
const OPS: [&str; 13] = [
    "_not_contains",
    "_not_in",
    "_starts_with",
    "_ends_with",
    "_contains",
    "_not",
    "_gte",
    "_lte",
    "_gt",
    "_lt",
    "_in",
    "_nocase",
    "_",
];

/// Most entities one collection returns (graph-node's `first` limit).
pub const MAX_FIRST: u64 = 1000;

/// Compare two field values: numerically when both are integers (BigInt strings
/// or numbers), else as strings; nulls first.
pub fn compare(a: &Value, b: &Value) -> Ordering {
    let num = |v: &Value| match v {
        Value::String(s) => s.parse::<U256>().ok(),
        Value::Number(n) => n.as_u64().map(U256::from),
        _ => None,
    };
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => text(a).cmp(&text(b)),
        },
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string(),
    }
}

/// Does `e` satisfy the `where` object?
pub fn matches(store: &Store, shape: &Shape, e: &Entity, filter: &Value) -> bool {
    let Value::Object(conds) = filter else {
        return true;
    };
    conds.iter().all(|(key, want)| match key.as_str() {
        "and" => want
            .as_array()
            .is_none_or(|l| l.iter().all(|f| matches(store, shape, e, f))),
        "or" => want
            .as_array()
            .is_none_or(|l| l.iter().any(|f| matches(store, shape, e, f))),
        _ => condition(store, shape, e, key, want),
    })
}

fn condition(store: &Store, shape: &Shape, e: &Entity, key: &str, want: &Value) -> bool {
    let (field, op) = OPS
        .iter()
        .find_map(|op| key.strip_suffix(op).map(|f| (f, *op)))
        .filter(|(f, _)| !f.is_empty() && !e.fields.contains_key(key))
        .unwrap_or((key, ""));
    let have = e.fields.get(field).unwrap_or(&Value::Null);
    match op {
        "" => eq(have, want),
        "_not" => !eq(have, want),
        "_gt" => compare(have, want).is_gt(),
        "_gte" => compare(have, want).is_ge(),
        "_lt" => compare(have, want).is_lt(),
        "_lte" => compare(have, want).is_le(),
        "_in" => want
            .as_array()
            .is_some_and(|l| l.iter().any(|w| eq(have, w))),
        "_not_in" => want
            .as_array()
            .is_none_or(|l| !l.iter().any(|w| eq(have, w))),
        "_contains" => text(have).contains(&text(want)),
        "_not_contains" => !text(have).contains(&text(want)),
        "_starts_with" => text(have).starts_with(&text(want)),
        "_ends_with" => text(have).ends_with(&text(want)),
        "_" => {
            // A filter on the referenced entity (`offer_: {...}`).
            let Some(target) = shape.field_type(&e.ty, field) else {
                return false;
            };
            let ids: Vec<&str> = match have {
                Value::String(id) => vec![id.as_str()],
                Value::Array(l) => l.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            ids.iter().any(|id| {
                shape
                    .lookup(store, target, id)
                    .is_some_and(|r| matches(store, shape, r, want))
            })
        }
        _ => false,
    }
}

fn eq(have: &Value, want: &Value) -> bool {
    compare(have, want).is_eq()
}

/// The arguments of a collection field.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub filter: Option<Value>,
    pub order_by: Option<String>,
    pub descending: bool,
    pub skip: u64,
    pub first: u64,
}

/// Filter, order and cut a collection.
pub fn page<'a>(
    store: &Store,
    shape: &Shape,
    items: impl Iterator<Item = &'a Entity>,
    p: &Page,
) -> Vec<&'a Entity> {
    let mut out: Vec<&Entity> = items
        .filter(|e| {
            p.filter
                .as_ref()
                .is_none_or(|f| matches(store, shape, e, f))
        })
        .collect();
    let key = p.order_by.as_deref().unwrap_or("id");
    out.sort_by(|a, b| {
        let (x, y) = (a.fields.get(key), b.fields.get(key));
        let null = Value::Null;
        let o = if key == "id" {
            a.id().cmp(b.id())
        } else {
            compare(x.unwrap_or(&null), y.unwrap_or(&null)).then_with(|| a.id().cmp(b.id()))
        };
        if p.descending { o.reverse() } else { o }
    });
    out.into_iter()
        .skip(p.skip as usize)
        .take(p.first.min(MAX_FIRST) as usize)
        .collect()
}
