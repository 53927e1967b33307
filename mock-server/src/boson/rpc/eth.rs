//! The `eth_*` methods ethers and viem clients use: chain and block reads, state
//! reads, calls and gas estimates, raw transactions, receipts. Logs and filters
//! are in [`super::logs`].

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::rpc::types::eth::TransactionRequest;
use serde_json::{Value, json};

use super::params::{arg, at_most, block_id, height, opt};
use super::{Env, RpcError, logs};
use crate::boson::chain::{Chain, exec, rpc_types, tx};
use crate::boson::protocol::Ctx;

/// The code `eth_getCode` shows at the diamond: not the contracts' bytecode, but
/// not empty, so tools that check "is this a contract" see one.
const DIAMOND_CODE: &str = "0x608060405236600a57005b";

fn to_json<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(-32603, e.to_string()))
}

fn quantity(n: impl Into<U256>) -> Value {
    Value::String(format!("{:#x}", n.into()))
}

/// Answer one method.
pub fn call(env: Env<'_>, method: &str, p: &[Value]) -> Result<Value, RpcError> {
    match method {
        "eth_chainId" => Ok(quantity(U256::from(env.boson.config.chain_id))),
        "net_version" => Ok(Value::String(env.boson.config.chain_id.to_string())),
        "web3_clientVersion" => Ok(Value::String(format!(
            "gauntlet-twin/v{}",
            env!("CARGO_PKG_VERSION")
        ))),
        "net_listening" => Ok(Value::Bool(true)),
        "eth_syncing" => Ok(Value::Bool(false)),
        "eth_accounts" => Ok(json!([])),
        "eth_blockNumber" => Ok(quantity(U256::from(chain(env).head_number()))),
        "eth_gasPrice" => {
            let c = &env.boson.config;
            Ok(quantity(U256::from(c.base_fee + c.priority_fee)))
        }
        "eth_maxPriorityFeePerGas" => Ok(quantity(U256::from(env.boson.config.priority_fee))),
        "eth_feeHistory" => fee_history(env, p),
        "eth_getBlockByNumber" => {
            let tag: BlockNumberOrTag = arg(p, 0)?;
            let full = opt::<bool>(p, 1)?.unwrap_or(false);
            let c = chain(env);
            match height(&c, tag).and_then(|n| c.block(n)) {
                Some(b) if c.is_pruned(b.number()) => Err(RpcError::pruned_history()),
                Some(b) => to_json(rpc_types::block(b, full)),
                None => Ok(Value::Null),
            }
        }
        "eth_getBlockByHash" => {
            let hash: B256 = arg(p, 0)?;
            let full = opt::<bool>(p, 1)?.unwrap_or(false);
            let c = chain(env);
            match c.block_by_hash(&hash) {
                Some(b) if c.is_pruned(b.number()) => Err(RpcError::pruned_history()),
                Some(b) => to_json(rpc_types::block(b, full)),
                None => Ok(Value::Null),
            }
        }
        "eth_getBlockTransactionCountByNumber" => {
            let tag: BlockNumberOrTag = arg(p, 0)?;
            let c = chain(env);
            match height(&c, tag).and_then(|n| c.block(n)) {
                Some(b) if c.is_pruned(b.number()) => Err(RpcError::pruned_history()),
                Some(b) => Ok(quantity(U256::from(b.txs.len()))),
                None => Ok(Value::Null),
            }
        }
        "eth_getBalance" => {
            let who: Address = arg(p, 0)?;
            let c = chain(env);
            let n = state_height(&c, opt(p, 1)?)?;
            let world = c.state_at(n).ok_or_else(|| pruned(&c, n))?;
            Ok(quantity(world.account(who).balance))
        }
        "eth_getTransactionCount" => nonce(env, p),
        "eth_getCode" => {
            let who: Address = arg(p, 0)?;
            let code = if who == env.boson.config.diamond {
                DIAMOND_CODE
            } else {
                "0x"
            };
            Ok(Value::String(code.into()))
        }
        "eth_call" => {
            let (output, _) = simulate(env, p)?;
            Ok(Value::String(format!("0x{}", alloy::hex::encode(output))))
        }
        "eth_estimateGas" => simulate(env, p).map(|(_, gas)| quantity(U256::from(gas))),
        "eth_sendRawTransaction" => send_raw(env, p),
        "eth_getTransactionByHash" => {
            let hash: B256 = arg(p, 0)?;
            let c = chain(env);
            if let Some((b, m)) = c.mined(&hash) {
                return to_json(rpc_types::transaction(b, m));
            }
            Ok(c.pending(&hash).map_or(Ok(Value::Null), |t| {
                to_json(rpc_types::pending_transaction(t))
            })?)
        }
        "eth_getTransactionReceipt" => {
            let hash: B256 = arg(p, 0)?;
            let c = chain(env);
            match c.mined(&hash) {
                Some((b, m)) => to_json(rpc_types::receipt(b, m, c.config.diamond)),
                None => Ok(Value::Null),
            }
        }
        "eth_getLogs" => logs::get_logs(env, p),
        "eth_newFilter" => logs::new_filter(env, p),
        "eth_newBlockFilter" => logs::new_block_filter(env),
        "eth_getFilterChanges" => logs::changes(env, p),
        "eth_getFilterLogs" => logs::filter_logs(env, p),
        "eth_uninstallFilter" => logs::uninstall(env, p),
        other => Err(RpcError::no_method(other)),
    }
}

/// The chain brought up to now.
pub fn chain<'a>(env: Env<'a>) -> std::sync::MutexGuard<'a, Chain> {
    env.boson.chain_at(env.now, env.faults)
}

fn state_height(c: &Chain, id: Option<BlockId>) -> Result<u64, RpcError> {
    block_id(c, id).ok_or_else(|| RpcError::server("header not found"))
}

fn pruned(c: &Chain, n: u64) -> RpcError {
    RpcError::server(format!(
        "missing trie node: the twin keeps the state of the last {} blocks, block {n} is older",
        c.config.max_reorg_depth + 1
    ))
}

fn nonce(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    let who: Address = arg(p, 0)?;
    let id: Option<BlockId> = opt(p, 1)?;
    let c = chain(env);
    if matches!(id, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
        return Ok(quantity(U256::from(c.pending_nonce(who))));
    }
    let n = state_height(&c, id)?;
    let world = c.state_at(n).ok_or_else(|| pruned(&c, n))?;
    Ok(quantity(U256::from(world.account(who).nonce)))
}

/// Run a call on a copy of the state at the block asked for (the pending block's
/// time for `latest`): its output and the gas it would use.
fn simulate(env: Env<'_>, p: &[Value]) -> Result<(Bytes, u64), RpcError> {
    at_most(p, 3)?;
    let req: TransactionRequest = arg(p, 0)?;
    let id: Option<BlockId> = opt(p, 1)?;
    let c = chain(env);
    let n = state_height(&c, id)?;
    let mut world = c.state_at(n).ok_or_else(|| pruned(&c, n))?.clone();
    let latest = n == c.head_number();
    let pending = c.env_at(env.now);
    let timestamp = if latest {
        pending.timestamp
    } else {
        c.block(n).map_or(0, |b| b.timestamp())
    };
    let diamond = c.config.diamond;
    drop(c);
    let input = req.input.input().cloned().unwrap_or_default();
    let from = req.from.unwrap_or_default();
    let to = req.to.and_then(|t| t.to().copied());
    let value = req.value.unwrap_or_default();
    let Some(to) = to else {
        return Err(RpcError::server(
            "contract creation is not supported by the twin",
        ));
    };
    let gas = exec::gas_of(&input, to == diamond);
    if to != diamond {
        return Ok((Bytes::new(), gas));
    }
    let ctx = Ctx {
        sender: from,
        origin: from,
        value,
        now: timestamp,
        paused: pending.paused,
    };
    // A call may carry value its sender does not hold: credit it for the copy.
    let mut acc = world.account(from);
    if acc.balance < value {
        acc.balance = value;
        world.accounts.insert(from, acc);
    }
    let out = exec::call(&mut world, &ctx, &input, diamond)?;
    Ok((out.output, gas))
}

fn send_raw(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    at_most(p, 1)?;
    let raw: Bytes = arg(p, 0)?;
    let signed = tx::decode(&raw, env.boson.config.chain_id)?;
    let hash = {
        let mut c = chain(env);
        c.submit(signed)?
    };
    // Under automine the block is mined now; otherwise at the next interval.
    drop(chain(env));
    Ok(Value::String(format!("{hash:#x}")))
}

fn fee_history(env: Env<'_>, p: &[Value]) -> Result<Value, RpcError> {
    let count: Value = arg(p, 0)?;
    let count = match &count {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
        _ => None,
    }
    .ok_or_else(|| RpcError::invalid(0, "not a block count"))?
    .clamp(1, 1024);
    let newest: BlockNumberOrTag = arg(p, 1)?;
    let percentiles: Option<Vec<f64>> = opt(p, 2)?;
    let c = chain(env);
    let newest = height(&c, newest).unwrap_or(c.head_number());
    let count = count.min(newest + 1);
    let oldest = newest + 1 - count;
    let base = quantity(U256::from(c.config.base_fee));
    let tip = quantity(U256::from(c.config.priority_fee));
    let ratios: Vec<Value> = c
        .range(oldest, newest)
        .map(|b| json!(b.header.gas_used as f64 / b.header.gas_limit as f64))
        .collect();
    let mut out = json!({
        "oldestBlock": quantity(U256::from(oldest)),
        "baseFeePerGas": vec![base; count as usize + 1],
        "gasUsedRatio": ratios,
    });
    if let Some(ps) = percentiles {
        out["reward"] = json!(vec![vec![tip; ps.len()]; count as usize]);
    }
    Ok(out)
}
