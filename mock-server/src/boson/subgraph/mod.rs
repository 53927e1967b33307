//! The Boson subgraph's twin: GraphQL at graph-node's path
//! (`POST /subgraphs/name/boson/corecomponents`), answering the documents core-sdk
//! sends (see [`normalize`]) from the protocol's state at the indexed block, with
//! graph-node's reply shapes: `{"data": ...}`, or `{"errors": [...]}` and no data.
//!
//! - [`normalize`]: graph-node's tolerance (repeated fragments, unused variables).
//! - [`schema`]: the schema from `schema.graphql`, one generic resolver ([`resolve`]).
//! - [`entities`]: the entities at a block. [`filter`]: `where`, ordering, paging.

pub mod entities;
pub mod filter;
pub mod logs;
pub mod normalize;
pub mod resolve;
pub mod schema;
pub mod serve;

use std::sync::Arc;

use async_graphql::dynamic::Schema;
use graphql_parser::query::{Definition, OperationDefinition, Selection, Value as QValue};
use serde::Deserialize;
use serde_json::{Value, json};

pub use entities::{IndexedBlock, Store};
pub use resolve::DEPLOYMENT;
use schema::Shape;

/// graph-node's path for the Boson subgraph, as core-sdk's local config names it.
pub const PATH: &str = "/subgraphs/name/boson/corecomponents";

/// Which block a query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// The indexed head.
    Latest,
    Number(u64),
    NumberGte(u64),
    Hash(String),
}

/// A query could not be answered at its block: graph-node's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinError(pub String);

impl PinError {
    /// The block is past the indexed head.
    pub fn not_yet(arg: &str, indexed: u64, requested: u64) -> Self {
        Self(format!(
            "Failed to decode `{arg}` value: `subgraph {DEPLOYMENT} has only indexed up to block number {indexed} and data for block number {requested} is therefore not yet available`"
        ))
    }

    /// The block is older than the states kept.
    pub fn pruned(earliest: u64, requested: u64) -> Self {
        Self(format!(
            "Failed to decode `block.number` value: `subgraph {DEPLOYMENT} only has data starting at block number {earliest} and data for block number {requested} is therefore not available`"
        ))
    }

    /// No block has that hash (it was never mined, or a reorg dropped it).
    pub fn unknown_hash() -> Self {
        Self("Failed to decode `block.hash` value: `no block with that hash found`".into())
    }
}

/// The request body graph-node takes.
#[derive(Debug, Deserialize)]
struct Body {
    query: String,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

/// The subgraph: its schema, built once.
pub struct Subgraph {
    schema: Schema,
    shape: Arc<Shape>,
}

impl std::fmt::Debug for Subgraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subgraph").finish_non_exhaustive()
    }
}

fn errors(message: impl Into<String>) -> Value {
    json!({"errors": [{"message": message.into()}]})
}

impl Subgraph {
    pub fn new() -> Result<Self, String> {
        let (schema, shape) = schema::build()?;
        Ok(Self { schema, shape })
    }

    /// Answer one request body; `store` gives the entities at a pinned block.
    pub async fn answer(
        &self,
        body: &[u8],
        store: impl Fn(&Pin) -> Result<Arc<Store>, PinError>,
        reads: Arc<crate::boson::chain::actions::ReadLog>,
    ) -> Value {
        let body: Body = match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => return errors(format!("The request body is not a GraphQL request: {e}")),
        };
        let query = match normalize::normalize(&body.query) {
            Ok(q) => q,
            Err(e) => return errors(e),
        };
        let vars = body.variables.clone().unwrap_or(Value::Null);
        let pin = pin_of(&query, body.operation_name.as_deref(), &vars);
        let store = match store(&pin) {
            Ok(s) => s,
            Err(PinError(message)) => return errors(message),
        };
        let mut req = async_graphql::Request::new(query)
            .data(store)
            .data(reads)
            .variables(async_graphql::Variables::from_json(vars));
        if let Some(op) = body.operation_name {
            req = req.operation_name(op);
        }
        let resp = self.schema.execute(req).await;
        if !resp.errors.is_empty() {
            let msgs: Vec<Value> = resp
                .errors
                .iter()
                .map(|e| json!({"message": e.message}))
                .collect();
            return json!({ "errors": msgs });
        }
        json!({ "data": resp.data.into_json().unwrap_or(Value::Null) })
    }

    /// The shape of the served types (for tests).
    pub fn shape(&self) -> &Shape {
        &self.shape
    }
}

/// The block the operation's root fields pin (`block: {number | number_gte | hash}`).
fn pin_of(query: &str, operation: Option<&str>, vars: &Value) -> Pin {
    let Ok(doc) = graphql_parser::parse_query::<String>(query) else {
        return Pin::Latest;
    };
    for def in &doc.definitions {
        let Definition::Operation(op) = def else {
            continue;
        };
        let (name, set) = match op {
            OperationDefinition::Query(q) => (q.name.as_deref(), &q.selection_set),
            OperationDefinition::SelectionSet(s) => (None, s),
            _ => continue,
        };
        if operation.is_some() && name != operation {
            continue;
        }
        for sel in &set.items {
            let Selection::Field(f) = sel else { continue };
            if let Some((_, v)) = f.arguments.iter().find(|(k, _)| k == "block") {
                return pin_value(&resolve_var(v, vars));
            }
        }
    }
    Pin::Latest
}

fn resolve_var(v: &QValue<'_, String>, vars: &Value) -> Value {
    match v {
        QValue::Variable(name) => vars.get(name).cloned().unwrap_or(Value::Null),
        QValue::Int(n) => json!(n.as_i64()),
        QValue::String(s) => json!(s),
        QValue::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve_var(v, vars)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn pin_value(v: &Value) -> Pin {
    let num = |k: &str| v.get(k).and_then(Value::as_u64);
    if let Some(h) = v.get("hash").and_then(Value::as_str) {
        return Pin::Hash(h.to_lowercase());
    }
    if let Some(n) = num("number") {
        return Pin::Number(n);
    }
    if let Some(n) = num("number_gte") {
        return Pin::NumberGte(n);
    }
    Pin::Latest
}
