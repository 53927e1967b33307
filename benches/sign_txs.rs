//! Signed value transfers for the JSON-RPC comparison in `benches/side-by-side.sh`:
//! the same `eth_sendRawTransaction` bodies go to the Boson twin and to anvil.
//!
//! `cargo run --release --example sign_txs -- COUNT OUT` writes COUNT request
//! bodies, one per line, from anvil's ten well-known development accounts in
//! turn (each sender's nonces in order): 1 wei to a fixed address, EIP-1559,
//! chain 31337, a fee both nodes take. The keys are anvil's public test keys,
//! funded on anvil by default and on the twin when given as its buyers
//! (`GAUNTLET_BOSON_BUYER_KEYS`; `sign_txs --keys` prints them for it).
#![allow(clippy::print_stdout)] // it says what it wrote

use std::io::Write;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, TxKind, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;

/// anvil's development accounts' keys (its default mnemonic): public test keys.
const ANVIL_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

fn main() -> anyhow::Result<()> {
    // `--keys`: the keys, comma-separated, for the twin's GAUNTLET_BOSON_BUYER_KEYS.
    if std::env::args().nth(1).as_deref() == Some("--keys") {
        println!("{}", ANVIL_KEYS.join(","));
        return Ok(());
    }
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: sign_txs COUNT OUT"))?
        .parse()?;
    let out = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: sign_txs COUNT OUT"))?;
    let keys: Vec<PrivateKeySigner> = ANVIL_KEYS
        .iter()
        .map(|k| k.parse())
        .collect::<Result<_, _>>()?;
    let to = Address::repeat_byte(0x42);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    for i in 0..count {
        let key = &keys[i % keys.len()];
        let tx = TxEip1559 {
            chain_id: 31_337,
            nonce: (i / keys.len()) as u64,
            gas_limit: 21_000,
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(to),
            value: U256::from(1u64),
            input: Default::default(),
            access_list: Default::default(),
        };
        let sig = key.sign_hash_sync(&tx.signature_hash())?;
        let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
        writeln!(
            file,
            r#"{{"jsonrpc":"2.0","id":{i},"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
            hex::encode(raw)
        )?;
    }
    file.flush()?;
    println!("{count} signed transfers written to {out}");
    Ok(())
}
