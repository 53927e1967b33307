//! Dual's organization balance: the embedded twin charges the plan's fee for every
//! action it applies, and the run reports what was spent, what is left, the runway
//! at the run's rate and whether the balance-low alert fired.

use crate::run::{run_ok, run_plan, write_plan};
use crate::util::GOOSE;

const PLAN: &str = r#"
[run]
duration = "3s"
seed = 3
rate = 200
batch = { min = 10, max = 20 }
warmup = "1s"

[target]
fee_per_action = 0.5
org_balance = 1000
balance_low = 900

[webhooks]
handler = "off"

[thresholds]
max_harness_lag = "1s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twin_charges_each_applied_action_and_the_run_projects_the_runway() {
    let _goose = GOOSE.lock().await;
    let o = run_ok("balance", PLAN).await;
    let d = o.summary.dual_balance.as_ref().expect("a fee was charged");
    let applied = o
        .summary
        .twin
        .as_ref()
        .expect("twin")
        .oracle
        .actions
        .applies;
    // Every action the twin applied, and only those, was charged.
    assert_eq!(d.charged_actions, applied, "{d:?}");
    assert!(applied >= 400, "3 s at 200/s: {applied}");
    assert!((d.spent - applied as f64 * 0.5).abs() < 1e-6, "{d:?}");
    assert!((d.remaining - (1000.0 - d.spent)).abs() < 1e-6, "{d:?}");
    // 0.5 DUAL x ~600 actions leaves less than 900: the alert fired.
    assert!(d.low_fired, "{d:?}");
    let runway = d.runway_days.expect("runway");
    assert!((runway - d.remaining / (d.spent_per_hour * 24.0)).abs() < 1e-9);
    let md = std::fs::read_to_string(o.dir.join("summary.md")).expect("summary.md");
    assert!(md.contains("alert balance_low"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_fee_nothing_is_charged_and_a_bad_fee_is_named() {
    let _goose = GOOSE.lock().await;
    let free = PLAN.replace("fee_per_action = 0.5\n", "");
    let o = run_ok("balance-free", &free).await;
    assert!(o.summary.dual_balance.is_none());
    let bad = PLAN.replace("fee_per_action = 0.5", "fee_per_action = -1");
    let err = run_plan(write_plan("balance-bad", &bad), None, vec![])
        .await
        .expect_err("refused");
    let e = err
        .downcast_ref::<gauntlet_mock::ConfigError>()
        .unwrap_or_else(|| panic!("{err:#}"));
    assert_eq!(e.key, "target.fee_per_action", "{e}");
}
