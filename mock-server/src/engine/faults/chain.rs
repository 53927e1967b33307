//! Chain faults (reorg, pause, upgrade): decided once per mined block for the
//! platform that runs a chain, seeded, windowed and taped like request faults.
//!
//! The engine knows no chain: it says *that* a reorg of some depth and fate, or an
//! upgrade, happens after a block, and which regions are paused at a twin time; the
//! platform carries it out. A rule with `When::Always` draws at every block from a
//! stream keyed by the block number and the rule's index, so a seeded twin reorgs at
//! the same heights every run. A windowed rule decides once per window, at the first
//! block inside it. Either way a rule decides each thing once (a height re-mined
//! after a reorg does not draw again, so a reorg cannot chain itself forever), and
//! installing rules forgets what was decided.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{FaultEngine, FaultKind, MAX_TAPE_PATH, RuleSpec, TapeEntry, When};

/// Deepest reorg a rule may ask for: far beyond any finality a client waits for,
/// and a bound on the states a platform must keep to roll back.
pub const MAX_REORG_DEPTH: u64 = 1024;

/// What becomes of the transactions of the blocks a reorg drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReorgFate {
    /// Mined again at the same heights, in the same order (new block hashes).
    Remine,
    /// Mined again, shuffled across the new blocks with the fault's seed.
    Reorder,
    /// Gone: never mined again by the reorg.
    Drop,
}

impl ReorgFate {
    /// Every fate, as written in specs.
    pub const NAMES: [&'static str; 3] = ["remine", "reorder", "drop"];

    /// The fate as written in specs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Remine => "remine",
            Self::Reorder => "reorder",
            Self::Drop => "drop",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Remine, Self::Reorder, Self::Drop]
            .into_iter()
            .find(|f| f.name() == text)
    }
}

/// What happens to the chain right after a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainFault {
    /// Drop the last `depth` blocks; `seed` drives any shuffling the fate asks for.
    Reorg {
        depth: u64,
        fate: ReorgFate,
        seed: u64,
    },
    /// Upgrade the contract (a DiamondCut event).
    Upgrade,
}

impl ChainFault {
    /// The kind's name, as on the tape and in metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Reorg { .. } => "reorg",
            Self::Upgrade => "upgrade",
        }
    }
}

/// A chain fault that fired, with the rule that fired it (for the platform's own
/// reports; the tape already has it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredChainFault {
    pub rule: String,
    pub fault: ChainFault,
}

impl FaultEngine {
    /// The chain faults that happen right after `block`, mined at twin time `at`, in
    /// rule order. Each firing goes on the tape; the caller counts it in metrics.
    /// Call it once per block, in height order.
    pub fn after_block(&self, block: u64, at: Duration) -> Vec<FiredChainFault> {
        let set = self.rules();
        let since = at.saturating_sub(set.epoch);
        let mut fired = Vec::new();
        for (index, rule) in set.rules.iter().enumerate() {
            if !matches!(rule.kind, FaultKind::Reorg { .. } | FaultKind::Upgrade)
                || !claim(&set.claimed[index], &rule.when, block, since)
            {
                continue;
            }
            let mut rng = self.rng_for(block_stream(block, index));
            if rng.random::<f64>() >= rule.probability {
                continue;
            }
            if let Some(limit) = rule.limit
                && set.injected[index].fetch_add(1, Ordering::Relaxed) >= limit
            {
                continue;
            }
            let fault = match rule.kind {
                FaultKind::Reorg { depth, fate } => ChainFault::Reorg {
                    depth,
                    fate,
                    seed: rng.random(),
                },
                _ => ChainFault::Upgrade,
            };
            self.tape_chain(block, at, "BLOCK", format!("/chain/{block}"), rule);
            fired.push(FiredChainFault {
                rule: rule.name.clone(),
                fault,
            });
        }
        fired
    }

    /// How long after `block` (mined at twin time `at`) the indexer shows it: the
    /// sum of every live `indexer_lag` rule's draw (seeded by the block and the
    /// rule, so a seeded twin lags the same every run). Each draw goes on the tape.
    pub fn index_lag(&self, block: u64, at: Duration) -> Duration {
        let set = self.rules();
        let since = at.saturating_sub(set.epoch);
        let mut lag = Duration::ZERO;
        for (index, rule) in set.rules.iter().enumerate() {
            let FaultKind::IndexerLag(dist) = &rule.kind else {
                continue;
            };
            if !rule.when.live(since) {
                continue;
            }
            let mut rng = self.rng_for(block_stream(block, index));
            if rng.random::<f64>() >= rule.probability {
                continue;
            }
            if let Some(limit) = rule.limit
                && set.injected[index].fetch_add(1, Ordering::Relaxed) >= limit
            {
                continue;
            }
            lag += dist.sample(&mut rng);
            self.tape_chain(block, at, "INDEX", format!("/chain/{block}/index"), rule);
        }
        lag
    }

    /// The regions paused at twin time `at`: every live pause rule's, each once, in
    /// the order first seen. A pause goes on the tape once per window, when first
    /// observed here (sequence 0: it belongs to no block or request).
    pub fn paused_regions(&self, at: Duration) -> Vec<String> {
        let set = self.rules();
        let since = at.saturating_sub(set.epoch);
        let mut paused: Vec<String> = Vec::new();
        for (rule, slot) in set.rules.iter().zip(&set.claimed) {
            let FaultKind::Pause { regions } = &rule.kind else {
                continue;
            };
            if !rule.when.live(since) {
                continue;
            }
            if claim(slot, &rule.when, 0, since) {
                let path = format!("/chain/pause/{}", regions.join(","));
                self.tape_chain(0, at, "PAUSE", path, rule);
            }
            for region in regions {
                if !paused.contains(region) {
                    paused.push(region.clone());
                }
            }
        }
        paused
    }

    fn tape_chain(&self, seq: u64, at: Duration, method: &str, path: String, rule: &super::Rule) {
        self.tape.push(TapeEntry {
            seq,
            at_ms: at.as_secs_f64() * 1000.0,
            request_id: String::new(),
            method: method.into(),
            path: path.chars().take(MAX_TAPE_PATH).collect(),
            rule: rule.name.clone(),
            kind: rule.kind.name(),
            op: String::new(),
        });
    }
}

/// Claim what a rule decides now: the block itself for an `Always` rule, else the
/// window open at `since`. True for the first claim of each, false after (and when
/// no window is open): the slot keeps the highest claimed, plus one.
pub(super) fn claim(slot: &AtomicU64, when: &When, block: u64, since: Duration) -> bool {
    let key = match when {
        When::Always => block,
        _ => match when.window_index(since) {
            Some(k) => k,
            None => return false,
        },
    };
    let mark = key.saturating_add(1);
    slot.fetch_max(mark, Ordering::AcqRel) < mark
}

/// The random stream of rule `index` at `block`: a digest of a tag of its own (so
/// it meets no request's stream), the block number and the rule's index.
fn block_stream(block: u64, index: usize) -> u64 {
    let mut h = Sha256::new();
    h.update(b"gauntlet/chain-fault\0");
    h.update(block.to_be_bytes());
    h.update((index as u64).to_be_bytes());
    let digest: [u8; 32] = h.finalize().into();
    u64::from_be_bytes(digest[..8].try_into().expect("8 of 32 bytes"))
}

/// The fields each chain kind takes (besides the common ones).
pub(super) fn fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "reorg" => &["depth", "fate"],
        "pause" => &["regions"],
        "indexer_lag" => &[
            "dist", "delay", "min", "max", "mean", "stddev", "median", "sigma", "scale", "shape",
        ],
        _ => &[],
    }
}

/// The chain kind of `spec`; an error is the key (within the rule) and the reason.
pub(super) fn kind_from_spec(spec: &RuleSpec) -> Result<FaultKind, (String, String)> {
    let err = |key: &str, reason: String| Err((key.to_string(), reason));
    match spec.kind.as_str() {
        "indexer_lag" => super::Latency::from_spec(spec)
            .map(FaultKind::IndexerLag)
            .map_err(|(k, r)| (k.to_string(), r)),
        "reorg" => {
            let Some(depth) = spec.depth else {
                return err("depth", "kind reorg needs depth".into());
            };
            if !(1..=MAX_REORG_DEPTH).contains(&depth) {
                return err(
                    "depth",
                    format!("must be within 1..={MAX_REORG_DEPTH}, got {depth}"),
                );
            }
            let fate = match spec.fate.as_deref() {
                None => ReorgFate::Remine,
                Some(text) => match ReorgFate::parse(text) {
                    Some(fate) => fate,
                    None => {
                        return err(
                            "fate",
                            format!("`{text}`: expected remine, reorder or drop"),
                        );
                    }
                },
            };
            Ok(FaultKind::Reorg { depth, fate })
        }
        "pause" => {
            let regions = spec.regions.clone().unwrap_or_default();
            if regions.is_empty() {
                return err("regions", "needs at least one region".into());
            }
            for (j, region) in regions.iter().enumerate() {
                if region.is_empty() || region.chars().any(char::is_whitespace) {
                    return err(
                        &format!("regions[{j}]"),
                        format!("`{region}`: a region is a non-empty name without whitespace"),
                    );
                }
            }
            Ok(FaultKind::Pause { regions })
        }
        "upgrade" => Ok(FaultKind::Upgrade),
        other => err("kind", format!("`{other}` is not a chain kind")),
    }
}

#[cfg(test)]
mod tests;
