//! The world state and one transaction applied to it: gas charged, nonce bumped,
//! value moved, the protocol called, its logs or its revert.

use alloy::primitives::{Address, Bytes, LogData, U256};
use imbl::HashMap;

use super::tx::{Signed, intrinsic_gas};
use crate::boson::protocol::funds::Release;
use crate::boson::protocol::{Ctx, Protocol};

/// Gas a protocol call uses on top of the intrinsic gas (a flat figure: the twin
/// has no EVM, and a deterministic figure lets `eth_estimateGas` be exact).
pub const CALL_GAS: u64 = 120_000;

/// An account: its native balance and its next nonce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Account {
    pub balance: U256,
    pub nonce: u64,
}

/// Everything on chain. Cloning is cheap (persistent maps): one clone per block
/// is kept for rollbacks.
#[derive(Debug, Clone)]
pub struct World {
    pub accounts: HashMap<Address, Account>,
    pub protocol: Protocol,
    /// Gas fees paid: native value that left circulation (the twin has no coinbase).
    pub burnt: U256,
}

impl World {
    pub fn account(&self, who: Address) -> Account {
        self.accounts.get(&who).copied().unwrap_or_default()
    }

    fn set(&mut self, who: Address, account: Account) {
        self.accounts.insert(who, account);
    }

    /// All native value: balances plus burnt fees (constant but for genesis grants).
    pub fn native_total(&self) -> U256 {
        self.accounts
            .values()
            .fold(self.burnt, |sum, a| sum + a.balance)
    }
}

/// What a mined transaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    pub success: bool,
    pub gas_used: u64,
    pub gas_price: u128,
    pub logs: Vec<LogData>,
    /// The revert data when it failed.
    pub revert: Option<Bytes>,
    pub transitions: Vec<(u64, &'static str)>,
    pub releases: Vec<Release>,
}

/// Why a transaction cannot go into a block at all (it stays out of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unincludable {
    /// Its nonce is ahead of the account's: it waits for the gap to fill.
    NonceGap,
    /// Its nonce is behind: a transaction with that nonce is already mined.
    Stale,
    /// The sender can no longer pay for it.
    Funds,
}

/// The block facts a call sees.
#[derive(Debug, Clone, Copy)]
pub struct BlockEnv {
    pub timestamp: u64,
    pub base_fee: u128,
    pub paused: u32,
    pub diamond: Address,
}

/// Gas a transaction uses (deterministic).
pub fn gas_of(tx_input: &[u8], to_diamond: bool) -> u64 {
    intrinsic_gas(tx_input) + if to_diamond { CALL_GAS } else { 0 }
}

/// Apply a transaction to `world` at `env`. A revert still burns its gas and bumps
/// the nonce; only the protocol's and the value's changes are undone.
pub fn apply(world: &mut World, tx: &Signed, env: &BlockEnv) -> Result<Effect, Unincludable> {
    let mut sender = world.account(tx.from);
    if tx.nonce() > sender.nonce {
        return Err(Unincludable::NonceGap);
    }
    if tx.nonce() < sender.nonce {
        return Err(Unincludable::Stale);
    }
    if sender.balance < tx.max_cost() {
        return Err(Unincludable::Funds);
    }
    let to = tx.to().unwrap_or_default();
    let to_diamond = to == env.diamond;
    let price = tx.effective_gas_price(env.base_fee);
    let wanted = gas_of(tx.input(), to_diamond);
    let out_of_gas = wanted > tx.gas_limit();
    let gas_used = wanted.min(tx.gas_limit());
    let fee = U256::from(gas_used) * U256::from(price);
    sender.balance -= fee;
    sender.nonce += 1;
    world.set(tx.from, sender);
    world.burnt += fee;
    let mut effect = Effect {
        success: false,
        gas_used,
        gas_price: price,
        logs: Vec::new(),
        revert: Some(Bytes::new()),
        transitions: Vec::new(),
        releases: Vec::new(),
    };
    if out_of_gas {
        return Ok(effect);
    }
    let value = tx.value();
    if !to_diamond {
        transfer(world, tx.from, to, value);
        effect.success = true;
        effect.revert = None;
        return Ok(effect);
    }
    let ctx = Ctx {
        sender: tx.from,
        origin: tx.from,
        value,
        now: env.timestamp,
        paused: env.paused,
    };
    match call(world, &ctx, tx.input(), env.diamond) {
        Ok(out) => {
            effect.success = true;
            effect.revert = None;
            effect.logs = out.logs;
            effect.transitions = out.transitions;
            effect.releases = out.releases;
        }
        Err(revert) => effect.revert = Some(revert.0),
    }
    Ok(effect)
}

/// Move value in, call the protocol on a copy, keep the copy and pay out on
/// success; on a revert nothing of it stays.
pub fn call(
    world: &mut World,
    ctx: &Ctx,
    input: &[u8],
    diamond: Address,
) -> Result<crate::boson::protocol::Outcome, crate::boson::protocol::Revert> {
    let mut next = world.clone();
    transfer(&mut next, ctx.sender, diamond, ctx.value);
    let out = next.protocol.execute(ctx, input)?;
    for (to, amount) in &out.payouts {
        transfer(&mut next, diamond, *to, *amount);
    }
    *world = next;
    Ok(out)
}

fn transfer(world: &mut World, from: Address, to: Address, value: U256) {
    if value.is_zero() || from == to {
        return;
    }
    let mut a = world.account(from);
    a.balance = a.balance.saturating_sub(value);
    world.set(from, a);
    let mut b = world.account(to);
    b.balance += value;
    world.set(to, b);
}
