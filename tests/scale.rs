//! Scale-out on one machine: two segments of a plan, in two processes against
//! one twin, merged with `gauntlet merge`, against one process running the
//! whole plan on a twin of its own. Every wait is on a process ending.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{KEY, TOKEN, Twin, config};

const PLAN: &str = "[run]\nduration = \"5s\"\nseed = 21\nrate = 400\nbatch = { min = 10, max = 20 }\nwarmup = \"1s\"\nsnapshot = \"500ms\"\n\
    [client]\nmax_elapsed = \"60s\"\n\
    [webhooks]\nhandler = \"off\"\n\
    # Not what this test is about: two segments and a twin share 2 cores.\n\
    [thresholds]\nmax_harness_lag = \"1s\"\n\
    [[faults]]\nname = \"slow\"\nkind = \"latency\"\nroute = \"POST /ebus/actions/batch\"\ndist = \"fixed\"\ndelay = \"20ms\"\n\
    [[faults]]\nname = \"busy\"\nkind = \"status\"\nstatus = 503\nretry_after = 1\nroute = \"POST /ebus/actions/batch\"\nprobability = 0.05\n";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gauntlet-scale-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn gauntlet(args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_gauntlet"));
    c.env_clear()
        .env("DUAL_API_KEY", KEY)
        .env("GAUNTLET_CONTROL_TOKEN", TOKEN)
        .args(args);
    c
}

async fn run(args: &[&str]) -> Output {
    gauntlet(args).output().await.expect("gauntlet runs")
}

fn summary(d: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(d.join("summary.json")).expect("summary.json"))
        .expect("json")
}

fn said(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The latency histogram of a folder's totals.
fn latency(d: &Path) -> hdrhistogram::Histogram<u64> {
    gauntlet::hlog::read(&d.join(gauntlet::hlog::TOTALS))
        .expect("histograms.hlog")
        .into_iter()
        .find(|e| e.tag.as_deref() == Some("latency"))
        .expect("latency")
        .histogram
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_segments_merged_equal_one_process() {
    let plan = crate::run::write_plan("scale", PLAN);
    let plan = plan.to_string_lossy().into_owned();
    let shared = Twin::start(config()).await;
    let url = format!("http://{}", shared.addr);
    let (d0, d1, merged, whole) = (dir("seg0"), dir("seg1"), dir("merged"), dir("whole"));
    let s = |d: &PathBuf| d.to_string_lossy().into_owned();
    // Both segments at once, against the one twin.
    let (p0, p1) = (s(&d0), s(&d1));
    let a0 = [
        "run",
        &plan,
        "--target",
        &url,
        "--segment",
        "0/2",
        "--out",
        &p0,
    ];
    let a1 = [
        "run",
        &plan,
        "--target",
        &url,
        "--segment",
        "1/2",
        "--out",
        &p1,
    ];
    let (o0, o1) = tokio::join!(run(&a0), run(&a1));
    for o in [&o0, &o1] {
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", said(o));
    }
    let m = run(&[
        "merge",
        &s(&d0),
        &s(&d1),
        "--out",
        &s(&merged),
        "--twin",
        &url,
    ])
    .await;
    assert_eq!(m.status.code(), Some(0), "{}", said(&m));
    // One process, the whole plan, a twin of its own.
    let own = Twin::start(config()).await;
    let w = run(&[
        "run",
        &plan,
        "--target",
        &format!("http://{}", own.addr),
        "--out",
        &s(&whole),
    ])
    .await;
    assert_eq!(w.status.code(), Some(0), "{}", said(&w));

    let (sm, sw) = (summary(&merged), summary(&whole));
    let (s0, s1) = (summary(&d0), summary(&d1));
    // The same schedule, split: every batch once, the same actions.
    for k in ["batches", "actions", "accepted", "unsent", "gave_up"] {
        assert_eq!(sm["load"][k], sw["load"][k], "{k}");
    }
    let share = |s: &Value| s["load"]["actions"].as_u64().unwrap_or(0);
    assert!(
        share(&s0) > 0 && share(&s1) > 0,
        "each segment sent its share"
    );
    assert_eq!(share(&s0) + share(&s1), share(&sw));
    // The shared twin's account, read once by the merge, is the whole run's.
    for k in ["sent", "applied", "duplicated", "lost"] {
        assert_eq!(
            sm["twin"]["load"][k], sw["twin"]["load"][k],
            "twin.load.{k}"
        );
    }
    assert_eq!(sm["twin"]["load"]["applied"], sw["load"]["actions"]);
    assert_eq!(sm["run_id"], sw["run_id"], "one run's id across segments");
    assert!(
        s0["twin"].is_null(),
        "a segment on a shared twin reads no account"
    );
    // Lossless: the merged histogram is the two segments' added bucket by bucket.
    let mut union = latency(&d0);
    union.add(latency(&d1)).expect("same bounds");
    assert_eq!(latency(&merged), union);
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    assert_eq!(sm["latency_ms"]["p99_ms"].as_f64(), Some(ms(&union, 0.99)));
    assert_eq!(
        sm["latency_ms"]["count"], sw["latency_ms"]["count"],
        "one sample per action either way"
    );
    // Both see the injected 20 ms on every first reply (a floor, not a speed).
    for s in [&sm, &sw] {
        assert!(
            s["latency_ms"]["p50_ms"]
                .as_f64()
                .is_some_and(|p| p >= 20.0),
            "{}",
            s["latency_ms"]
        );
    }
    assert_eq!(sm["verdict"]["pass"], true, "{}", sm["verdict"]);

    // A missing segment: partial, and the verdict cannot pass.
    let partial = dir("partial");
    let p = run(&["merge", &s(&d0), "--out", &s(&partial), "--twin", &url]).await;
    assert_eq!(p.status.code(), Some(1), "{}", said(&p));
    let sp = summary(&partial);
    assert!(
        sp["partial"]
            .as_str()
            .is_some_and(|t| t.contains("1/2 missing")),
        "{}",
        sp["partial"]
    );
    // Segments of different plans are refused, naming the odd one.
    let other = dir("other");
    std::fs::create_dir_all(&other).expect("mkdir");
    for f in ["summary.json", "histograms.hlog", "latency.hlog"] {
        std::fs::copy(d1.join(f), other.join(f)).expect("copy");
    }
    std::fs::write(
        other.join("plan.toml"),
        PLAN.replace("rate = 400", "rate = 500"),
    )
    .expect("write");
    let r = run(&["merge", &s(&d0), &s(&other), "--out", &s(&dir("refused"))]).await;
    assert_eq!(r.status.code(), Some(2), "{}", said(&r));
    assert!(said(&r).contains(&s(&other)), "{}", said(&r));
}
