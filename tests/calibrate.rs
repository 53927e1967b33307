//! `gauntlet calibrate` at a small scale: the structure of calibration.json, and
//! the freeze present in the figures (a lower bound the harness cannot beat: a
//! request held for the freeze waited at least that long). No timing thresholds.

use gauntlet::calibrate::{self, zed_theory_ms};
use gauntlet::cli::CalibrateArgs;
use std::time::Duration;

use crate::util::GOOSE;

#[test]
fn the_theory_is_the_freeze_less_one_percent_of_the_run() {
    let ms = zed_theory_ms(Duration::from_secs(1), Duration::from_secs(10));
    assert!((ms - 900.0).abs() < 1e-6, "{ms}");
    assert_eq!(
        zed_theory_ms(Duration::from_secs(1), Duration::from_secs(200)),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibrate_runs_the_zed_test_and_a_sweep_against_a_child_twin() {
    let _goose = GOOSE.lock().await;
    let out = std::env::temp_dir().join(format!("gauntlet-calibrate-{}", std::process::id()));
    let args = CalibrateArgs {
        duration: Duration::from_secs(3),
        rates: vec![300.0],
        out: Some(out.clone()),
    };
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_gauntlet"));
    let mut printed = Vec::new();
    let c = calibrate::run(
        args,
        &exe,
        &gauntlet::signal::Interrupts::default(),
        &mut printed,
    )
    .await
    .expect("calibrate");
    let text = String::from_utf8_lossy(&printed);
    eprintln!("{text}");
    assert!(text.contains("^Z test"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("calibration.json")).expect("written"))
            .expect("json");
    for key in [
        "zed",
        "steady",
        "sweep",
        "zed_theory_p99_ms",
        "highest_on_time_rate",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["sweep"].as_array().map(Vec::len), Some(1));
    // The freeze is in the figures: requests that arrived as it began were held
    // until it ended, so the slowest waited at least most of a second.
    assert!(c.zed.max_ms >= 900.0, "zed max {} ms", c.zed.max_ms);
    // And the twin, not the harness, counted what it applied: all of it.
    for s in [&c.zed, &c.steady, &c.sweep[0]] {
        assert_eq!(s.applied_by_twin, Some(s.sent), "{}: {s:?}", s.name);
        assert_eq!(s.lost, Some(0), "{}", s.name);
    }
    // The run folders are ordinary run folders.
    assert!(c.zed.run_folder.join("summary.json").exists());
}
