//! Logs: `eth_getLogs` (canonical logs only, within the chain's history
//! horizon: a range reaching below it is refused as geth refuses expired
//! history) and the log and block filters, whose
//! changes include orphaned logs again with `removed: true` before the new
//! chain's, as geth delivers them.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::U256;
use alloy::rpc::types::eth::{Filter, FilterBlockOption, Log};
use serde_json::Value;

use super::eth::chain;
use super::filters::Watch;
use super::params::{arg, height};
use super::{Env, RpcError};
use crate::boson::chain::{Chain, rpc_types};

/// Logs one `eth_getLogs` returns at most (the limit hosted nodes use).
pub const MAX_LOGS: usize = 10_000;

fn to_json(v: impl serde::Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(-32603, e.to_string()))
}

/// The canonical logs matching `filter`.
fn matching(c: &Chain, filter: &Filter) -> Result<Vec<Log>, RpcError> {
    let (from, to) = match filter.block_option {
        FilterBlockOption::AtBlockHash(h) => {
            let n = c
                .block_by_hash(&h)
                .map(|b| b.number())
                .ok_or_else(|| RpcError::server("unknown block"))?;
            (n, n)
        }
        FilterBlockOption::Range {
            from_block,
            to_block,
        } => {
            let tip = c.head_number();
            let at =
                |t: Option<BlockNumberOrTag>| t.map_or(Some(tip), |t| height(c, t).or(Some(tip)));
            (at(from_block).unwrap_or(tip), at(to_block).unwrap_or(tip))
        }
    };
    if from > to {
        return Err(RpcError::server("invalid block range params"));
    }
    if c.is_pruned(from) {
        return Err(RpcError::pruned_history());
    }
    let mut out = Vec::new();
    for block in c.range(from, to) {
        if !filter.matches_bloom(block.header.logs_bloom) {
            continue;
        }
        for log in rpc_types::block_logs(block, c.config.diamond, false) {
            if filter.matches(&log.inner) {
                out.push(log);
                if out.len() > MAX_LOGS {
                    return Err(RpcError::new(
                        -32005,
                        format!("query returned more than {MAX_LOGS} results"),
                    ));
                }
            }
        }
    }
    Ok(out)
}

pub fn get_logs(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    let filter: Filter = arg(p, 0)?;
    let c = chain(env);
    to_json(matching(&c, &filter)?)
}

pub fn new_filter(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    let filter: Filter = arg(p, 0)?;
    let cursor = chain(env).notes.end();
    install(env, Watch::Logs(Box::new(filter)), cursor)
}

pub fn new_block_filter(env: Env<'_>) -> Result<Value, RpcError> {
    let cursor = chain(env).notes.end();
    install(env, Watch::Blocks, cursor)
}

fn install(env: Env<'_>, watch: Watch, cursor: u64) -> Result<Value, RpcError> {
    let mut filters = env.boson.filters.lock().unwrap_or_else(|e| e.into_inner());
    let id = filters
        .install(watch, cursor, env.now)
        .ok_or_else(|| RpcError::server("too many filters installed"))?;
    Ok(Value::String(format!("{id:#x}")))
}

fn not_found() -> RpcError {
    RpcError::server("filter not found")
}

/// `eth_getFilterChanges`: what happened since the last poll.
pub fn changes(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    let id: U256 = arg(p, 0)?;
    let c = chain(env);
    let mut filters = env.boson.filters.lock().unwrap_or_else(|e| e.into_inner());
    let f = filters.poll(id, env.now).ok_or_else(not_found)?;
    match &f.watch {
        Watch::Logs(filter) => {
            let (logs, end) = c.notes.logs_since(f.cursor, filter);
            f.cursor = end;
            to_json(logs)
        }
        Watch::Blocks => {
            let (hashes, end) = c.notes.blocks_since(f.cursor);
            f.cursor = end;
            to_json(hashes)
        }
    }
}

/// `eth_getFilterLogs`: every canonical log the filter matches.
pub fn filter_logs(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    let id: U256 = arg(p, 0)?;
    let c = chain(env);
    let filter = {
        let mut filters = env.boson.filters.lock().unwrap_or_else(|e| e.into_inner());
        match &filters.poll(id, env.now).ok_or_else(not_found)?.watch {
            Watch::Logs(f) => (**f).clone(),
            Watch::Blocks => return Err(not_found()),
        }
    };
    to_json(matching(&c, &filter)?)
}

pub fn uninstall(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    let id: U256 = arg(p, 0)?;
    let mut filters = env.boson.filters.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Value::Bool(filters.uninstall(id)))
}
