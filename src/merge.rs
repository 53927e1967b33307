//! `gauntlet merge DIR... --out DIR`: the run folders of one plan's segments
//! (`gauntlet run --segment i/n`) joined into one run, as if one process had
//! run the whole plan.
//!
//! - Histograms are added bucket by bucket from each segment's totals
//!   (`histograms.hlog`) and interval log (`latency.hlog`): percentiles are
//!   computed from the merged histograms, never averaged. Counters are summed.
//! - The twin's account: read once from the shared twin (`--twin URL`), after
//!   every segment has ended, so the totals are exact; or, when each segment
//!   had a twin of its own, their per-run accounts summed (the actions of
//!   different segments never collide, so the sums are exact too).
//! - The verdict is computed again from the merged figures against the plan's
//!   thresholds. Segments that disagree on the plan or the seed are refused; a
//!   missing segment makes the result partial and fails `segments`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use gauntlet_mock::{OracleView, SecretString};
use serde_json::Value;

use crate::cli::MergeArgs;
use crate::exit::UsageError;
use crate::hlog;
use crate::measure::{Counts, Hists, Recorder};
use crate::plan::Plan;
use crate::report::{self, IntervalRow};
use crate::run::RunOutcome;
use crate::segment::{SHARED_LEAD, Segment};
use crate::twin_link::{TwinAccount, TwinLink};
use crate::verdict::{Check, Status, at_most_with};

/// One segment's folder, read.
#[derive(Debug)]
struct Part {
    dir: PathBuf,
    plan_text: String,
    summary: Value,
    segment: Segment,
    totals: Vec<hlog::Entry>,
    intervals: Vec<hlog::Entry>,
}

/// A folder read: a whole segment, or one that did not finish (it counts as
/// missing, and says why).
#[derive(Debug)]
enum Read {
    Whole(Box<Part>),
    Incomplete(String),
}

fn read_part(dir: &Path) -> anyhow::Result<Read> {
    let name = dir.display();
    let plan_text = std::fs::read_to_string(dir.join("plan.toml"))
        .map_err(|e| UsageError(format!("{name}: no plan.toml ({e}): not a run folder")))?;
    let Ok(bytes) = std::fs::read(dir.join("summary.json")) else {
        return Ok(Read::Incomplete(format!(
            "{name}: no summary.json (the segment never began, or was refused)"
        )));
    };
    let summary: Value = serde_json::from_slice(&bytes)
        .map_err(|e| UsageError(format!("{name}: summary.json is not JSON: {e}")))?;
    let segment: Segment = serde_json::from_value(summary["segment"].clone()).map_err(|_| {
        UsageError(format!(
            "{name}: not a segment's folder (its run had no --segment)"
        ))
    })?;
    if summary["partial"]
        .as_str()
        .is_some_and(|p| p.starts_with("a snapshot"))
    {
        return Ok(Read::Incomplete(format!(
            "{name}: segment {} ended without its summary (only a snapshot taken while it ran)",
            segment.label()
        )));
    }
    let Ok(totals) = hlog::read(&dir.join(hlog::TOTALS)) else {
        return Ok(Read::Incomplete(format!(
            "{name}: segment {} has no {}",
            segment.label(),
            hlog::TOTALS
        )));
    };
    let intervals = hlog::read(&dir.join("latency.hlog")).unwrap_or_default();
    Ok(Read::Whole(Box::new(Part {
        dir: dir.to_path_buf(),
        plan_text,
        summary,
        segment,
        totals,
        intervals,
    })))
}

/// The parts must be segments of one plan, seed and count, each once.
fn check_parts(parts: &[Part]) -> anyhow::Result<Vec<u32>> {
    let first = &parts[0];
    let mut seen = BTreeMap::new();
    for p in parts {
        let name = p.dir.display();
        if p.plan_text != first.plan_text {
            return Err(UsageError(format!(
                "{name} ran another plan than {}: segments of different plans are not merged",
                first.dir.display()
            ))
            .into());
        }
        // Segments on one shared twin share the run's id and the launch (the
        // twin time segment 0 installed the faults at): a stale folder of an
        // earlier launch of the same plan is refused.
        let keys: &[&str] = if first.segment.shared_twin {
            &["seed", "planned_s", "offered_rate", "run_id"]
        } else {
            &["seed", "planned_s", "offered_rate"]
        };
        if p.segment.launch != first.segment.launch {
            return Err(UsageError(format!(
                "{name} is from another launch of the plan than {} (an earlier run's folder?)",
                first.dir.display()
            ))
            .into());
        }
        for key in keys.iter().copied() {
            if p.summary[key] != first.summary[key] {
                return Err(UsageError(format!(
                    "{name}: its {key} ({}) differs from {}'s ({})",
                    p.summary[key],
                    first.dir.display(),
                    first.summary[key]
                ))
                .into());
            }
        }
        if p.segment.count != first.segment.count
            || p.segment.shared_twin != first.segment.shared_twin
        {
            return Err(UsageError(format!(
                "{name}: segment {} does not belong with {}'s {}",
                p.segment.label(),
                first.dir.display(),
                first.segment.label()
            ))
            .into());
        }
        if let Some(other) = seen.insert(p.segment.index, &p.dir) {
            return Err(UsageError(format!(
                "{name} and {} are both segment {}",
                other.display(),
                p.segment.label()
            ))
            .into());
        }
    }
    Ok((0..first.segment.count)
        .filter(|i| !seen.contains_key(i))
        .collect())
}

fn merged_hists(parts: &[Part]) -> Hists {
    let mut h = Hists::default();
    for e in parts.iter().flat_map(|p| &p.totals) {
        if let Some(into) = e.tag.as_deref().and_then(|t| h.by_tag(t)) {
            let _ = into.add(&e.histogram);
        }
    }
    h
}

fn merged_counts(parts: &[Part]) -> anyhow::Result<Counts> {
    let mut c = Counts::default();
    for p in parts {
        let counts: Counts = serde_json::from_value(p.summary["load"].clone())
            .with_context(|| format!("{}: summary.json has no load counts", p.dir.display()))?;
        c.add(&counts);
    }
    Ok(c)
}

/// The interval log merged: intervals of every segment that cover the same
/// snapshot (by their start, in snapshots) added; one row each.
fn merged_intervals(parts: &[Part], every: Duration) -> (Vec<hlog::Entry>, Vec<IntervalRow>) {
    let every_s = every.as_secs_f64().max(1e-3);
    let mut by: BTreeMap<(u64, Option<String>), hlog::Entry> = BTreeMap::new();
    for e in parts.iter().flat_map(|p| &p.intervals) {
        let k = (e.start.as_secs_f64() / every_s).round() as u64;
        by.entry((k, e.tag.clone()))
            .and_modify(|m| {
                let _ = m.histogram.add(&e.histogram);
                m.length = m.length.max(e.length);
            })
            .or_insert_with(|| hlog::Entry {
                start: Duration::from_secs_f64(k as f64 * every_s),
                ..e.clone()
            });
    }
    let mut rows: BTreeMap<u64, IntervalRow> = BTreeMap::new();
    for p in parts {
        let segment_rows: Vec<IntervalRow> =
            serde_json::from_value(p.summary["intervals"].clone()).unwrap_or_default();
        for r in segment_rows {
            let k = (r.end_s / every_s).round().max(0.0) as u64;
            let m = rows.entry(k).or_default();
            m.end_s = m.end_s.max(r.end_s);
            m.accepted_per_s += r.accepted_per_s;
            m.requests += r.requests;
            m.errors += r.errors;
            m.unreachable += r.unreachable;
        }
    }
    for (k, row) in rows.iter_mut() {
        if let Some(e) = k.checked_sub(1).and_then(|start| by.get(&(start, None))) {
            let h = &e.histogram;
            if !h.is_empty() {
                row.p50_ms = h.value_at_quantile(0.5) as f64 / 1000.0;
                row.p99_ms = h.value_at_quantile(0.99) as f64 / 1000.0;
            }
        }
    }
    (by.into_values().collect(), rows.into_values().collect())
}

/// Each segment's own twin: their per-run accounts and action counts summed
/// (disjoint actions: exact). The twins' own percentiles are not merged (left
/// empty, so the checks on them are skipped, never passed on a part).
fn summed_oracles(parts: &[Part]) -> Option<OracleView> {
    let views: Vec<OracleView> = parts
        .iter()
        .map(|p| serde_json::from_value(p.summary["twin"]["oracle"].clone()).ok())
        .collect::<Option<Vec<_>>>()?;
    let mut it = views.into_iter();
    let mut sum = it.next()?;
    sum.bursts.clear();
    sum.backoff.spread = None;
    // The twins' own percentiles cannot be added: emptied, so their checks skip.
    let empty = gauntlet_mock::engine::oracle::Percentiles {
        count: 0,
        p50_ms: 0.0,
        p90_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
    };
    sum.backoff.gap = empty.clone();
    sum.backoff.advised = empty.clone();
    sum.backoff.over_advice = empty.clone();
    sum.backoff.early_by = empty;
    for v in it {
        let a = &mut sum.actions;
        a.distinct += v.actions.distinct;
        a.applies += v.actions.applies;
        a.exactly_once += v.actions.exactly_once;
        a.duplicated += v.actions.duplicated;
        a.extra_applies += v.actions.extra_applies;
        a.lost += v.actions.lost;
        a.rejected += v.actions.rejected;
        for (id, r) in v.runs {
            let m = sum.runs.entry(id).or_default();
            m.arrived += r.arrived;
            m.applied += r.applied;
            m.duplicated += r.duplicated;
            m.rejected += r.rejected;
            m.lost += r.lost;
        }
        sum.backoff.early += v.backoff.early;
        sum.backoff.retries += v.backoff.retries;
        sum.backoff.faulted_replies += v.backoff.faulted_replies;
    }
    Some(sum)
}

/// The shared twin's account, read once; the applied rate over the steady part
/// on the twin's clock (segment 0 installed the run's rules labelled with its id).
async fn shared_account(
    url: &str,
    env: &impl Fn(&str) -> Option<String>,
    plan: &Plan,
    run_id: &str,
) -> anyhow::Result<TwinAccount> {
    let token = env(crate::run::CONTROL_TOKEN_VAR)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            UsageError(format!(
                "--twin {url}: {} is not set (the shared twin's control token)",
                crate::run::CONTROL_TOKEN_VAR
            ))
        })?;
    let url = crate::target::check_url(url).map_err(|m| UsageError(format!("--twin: {m}")))?;
    let link = TwinLink::remote(&url, SecretString::new(token))?;
    let (s0, s1) = plan.steady_window();
    let window = match link.rules_label().await? {
        Some((Some(label), epoch, _)) if label == run_id => {
            let zero = epoch + SHARED_LEAD;
            (zero + s0, zero + s1)
        }
        _ => (Duration::ZERO, Duration::ZERO),
    };
    link.oracle(window)
        .await?
        .ok_or_else(|| anyhow::anyhow!("{url}: no account"))
}

fn time(v: &Value) -> Option<SystemTime> {
    humantime::parse_rfc3339(v.as_str()?).ok()
}

/// Merge the segments in `args.dirs` into `args.out`.
pub async fn run(
    args: MergeArgs,
    env: impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> anyhow::Result<RunOutcome> {
    let mut parts: Vec<Part> = Vec::new();
    for d in &args.dirs {
        match read_part(d)? {
            Read::Whole(p) => parts.push(*p),
            Read::Incomplete(why) => writeln!(out, "note: {why}: counted as missing")?,
        }
    }
    if parts.is_empty() {
        return Err(
            UsageError("no segment ended with its summary: nothing to merge".into()).into(),
        );
    }
    let missing = check_parts(&parts)?;
    let first = &parts[0];
    let count = first.segment.count;
    let plan_path = first.dir.join("plan.toml");
    let duration = Duration::from_secs_f64(first.summary["planned_s"].as_f64().unwrap_or(0.0));
    let plan = Plan::from_toml(&first.plan_text, &plan_path)?
        .with_overrides(
            Some(duration),
            first.summary["offered_rate"].as_f64(),
            first.summary["seed"].as_u64(),
        )
        .map_err(UsageError)?;
    let run_id = first.summary["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let counts = merged_counts(&parts)?;
    let rec = Recorder::from_parts(merged_hists(&parts), counts);
    let (intervals, rows) = merged_intervals(&parts, plan.run.snapshot);
    let account = match (&args.twin, first.segment.shared_twin) {
        (Some(url), _) => Some(shared_account(url, &env, &plan, &run_id).await?),
        (None, true) => {
            writeln!(
                out,
                "note: the segments shared a twin; name it with --twin URL to read its account (lost, duplicated, early retries)"
            )?;
            None
        }
        (None, false) => summed_oracles(&parts).map(|oracle| TwinAccount {
            oracle,
            applied_rate: None,
            faults: BTreeMap::new(),
        }),
    };
    let sum = |k: &str| {
        parts
            .iter()
            .map(|p| p.summary[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let started = parts
        .iter()
        .filter_map(|p| time(&p.summary["started_at"]))
        .min()
        .unwrap_or_else(SystemTime::now);
    let ended = parts
        .iter()
        .filter_map(|p| time(&p.summary["ended_at"]))
        .max()
        .unwrap_or_else(SystemTime::now);
    let cpu_s: f64 = parts
        .iter()
        .map(|p| p.summary["cpu"]["process_s"].as_f64().unwrap_or(0.0))
        .sum();
    let target = first.summary["target"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut s = crate::run::summarize(
        &plan,
        &target,
        &plan.faults,
        sum("users") as usize,
        sum("max_in_flight") as usize,
        &run_id,
        &rec,
        account,
        rows,
        started,
        cpu_s,
        false,
    );
    s.ended_at = humantime::format_rfc3339_millis(ended).to_string();
    s.duration_s = ended
        .duration_since(started)
        .unwrap_or_default()
        .as_secs_f64();
    s.merged_from = parts.iter().map(|p| p.dir.display().to_string()).collect();
    if let Some(name) = first.summary["plan"].as_str() {
        s.plan = name.to_string();
    }
    let present = count as usize - missing.len();
    s.verdict.add(segments_checks(&parts));
    let interrupted: Vec<String> = parts
        .iter()
        .filter(|p| p.summary["canceled"] == true)
        .map(|p| p.segment.label())
        .collect();
    let names: Vec<String> = missing.iter().map(|i| format!("{i}/{count}")).collect();
    s.verdict.add(vec![Check {
        name: "segments",
        what: "segments of the plan merged (a missing one leaves its share unmeasured)",
        value: Some(present as f64),
        limit: format!(">= {count}"),
        status: if missing.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        },
        source: "harness",
        detail: (!missing.is_empty()).then(|| format!("missing: {}", names.join(", "))),
    }]);
    if !missing.is_empty() {
        s.partial = Some(format!(
            "segment {} missing: the figures cover {present} of {count}",
            names.join(", ")
        ));
    } else if !interrupted.is_empty() {
        s.canceled = true;
        s.verdict.interrupted();
        s.partial = Some(format!(
            "segment {} was interrupted: the figures cover what ran",
            interrupted.join(", ")
        ));
    }
    let dir = args.out.clone();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    crate::soak::save::write_atomic(&dir.join("plan.toml"), first.plan_text.as_bytes())?;
    let (hists, _) = rec.totals();
    hlog::write(&dir.join(hlog::TOTALS), started, duration, &hists.tagged())?;
    write_intervals(&dir.join("latency.hlog"), started, &intervals)?;
    report::write_all(&dir, &s)?;
    report::print_table(out, &s, &dir)?;
    Ok(RunOutcome {
        verdict: s.verdict.clone(),
        dir,
        summary: s,
    })
}

/// The checks each segment judged on its own process or timeline (stability,
/// windows, restarts): not recomputed from merged figures, carried over. One
/// check per name: how many segments failed it, naming them.
fn segments_checks(parts: &[Part]) -> Vec<Check> {
    const OWN: [(&str, &str); 7] = [
        (
            "windows",
            "segments with a window of the timeline that failed",
        ),
        (
            "rss_growth",
            "segments whose resident memory grew past the limit",
        ),
        (
            "fd_growth",
            "segments whose open descriptors grew past the limit",
        ),
        (
            "twin_rss_growth",
            "segments that saw the twin's memory grow past the limit",
        ),
        (
            "twin_fd_growth",
            "segments that saw the twin's descriptors grow past the limit",
        ),
        ("latency_drift", "segments whose p99 drifted past the limit"),
        (
            "target_restarts",
            "segments that saw the twin restart more often than allowed",
        ),
    ];
    OWN.iter()
        .filter_map(|(name, what)| {
            let mut seen = false;
            let failed: Vec<String> = parts
                .iter()
                .filter_map(|p| {
                    let c = p.summary["verdict"]["checks"]
                        .as_array()?
                        .iter()
                        .find(|c| c["name"] == *name)?;
                    seen = true;
                    (c["status"] == "fail").then(|| {
                        format!(
                            "segment {}: {}",
                            p.segment.label(),
                            c["detail"].as_str().unwrap_or("failed")
                        )
                    })
                })
                .collect();
            seen.then(|| {
                let detail = (!failed.is_empty()).then(|| failed.join("; "));
                at_most_with(
                    name,
                    what,
                    "harness",
                    Some(failed.len() as f64),
                    0.0,
                    detail,
                )
            })
        })
        .collect()
}

/// The merged interval log, in the same format a run writes.
fn write_intervals(path: &Path, start: SystemTime, entries: &[hlog::Entry]) -> anyhow::Result<()> {
    use hdrhistogram::serialization::V2DeflateSerializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
    let mut bytes = Vec::new();
    {
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("gauntlet merge: the segments' intervals added; latency from the intended send time, microseconds; tag service = from the actual send")
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut bytes, &mut serializer)
            .map_err(|e| anyhow::anyhow!("cannot begin {}: {e:?}", path.display()))?;
        for e in entries {
            log.write_histogram(
                &e.histogram,
                e.start,
                e.length,
                e.tag.as_deref().and_then(Tag::new),
            )
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e:?}", path.display()))?;
        }
    }
    crate::soak::save::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
