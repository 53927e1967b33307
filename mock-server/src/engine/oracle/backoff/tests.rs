//! The backoff grade driven with twin times: each figure fails for a flawed client
//! and passes for a correct one.

use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const MS: fn(u64) -> Duration = Duration::from_millis;
const FLOOR: Advice = Advice::Unadvised(Duration::from_millis(500));
const AFTER_1S: Advice = Advice::RetryAfter(Duration::from_secs(1));

/// One attempt of `op` at `at` answered with a faulted reply `took` later.
fn faulted(b: &mut Backoff, op: u64, at: u64, took: u64, advice: Advice) -> u32 {
    let attempt = b.arrival(op, &[], MS(at));
    b.faulted_reply(op, attempt, MS(at + took), advice);
    attempt
}

fn counts(b: &Backoff) -> (u64, u64, u64) {
    let g = b.grade_view();
    (g.retries, g.early, g.late_replies)
}

#[test]
fn an_unadvised_retry_sooner_than_the_floor_is_early() {
    let mut b = Backoff::default();
    let (hasty, patient) = (1, 2);
    faulted(&mut b, hasty, 990, 10, FLOOR);
    b.arrival(hasty, &[], MS(1010));
    faulted(&mut b, patient, 990, 10, FLOOR);
    b.arrival(patient, &[], MS(1600));
    let g = b.grade_view();
    assert_eq!(
        (g.retries, g.retries_unadvised, g.early, g.early_unadvised),
        (2, 2, 1, 1)
    );
    assert_eq!(g.advised.count, 0, "the floor is not advice");
    assert_eq!(
        g.over_advice.count, 0,
        "lateness is measured against advice"
    );
}

#[test]
fn a_rate_limit_reset_is_advice() {
    let mut b = Backoff::default();
    faulted(&mut b, 1, 0, 0, Advice::RateLimitReset(MS(3000)));
    b.arrival(1, &[], MS(1000));
    let g = b.grade_view();
    assert_eq!((g.early, g.early_unadvised, g.retries_unadvised), (1, 0, 0));
    assert!((g.early_by.max_ms - 2000.0).abs() < 5.0, "{:?}", g.early_by);
}

#[test]
fn a_zero_floor_grades_nothing_unadvised() {
    let mut b = Backoff::default();
    faulted(&mut b, 1, 0, 0, Advice::Unadvised(Duration::ZERO));
    b.arrival(1, &[], MS(1));
    let g = b.grade_view();
    assert_eq!((g.retries, g.retries_unadvised, g.early), (1, 1, 0));
}

#[test]
fn attempts_are_numbered_per_operation() {
    let mut b = Backoff::default();
    assert_eq!(
        [1, 2, 1, 3].map(|op| b.arrival(op, &[], MS(0))),
        [1, 1, 2, 1]
    );
}

/// Attempt 1 hangs; the client gives up and sends attempt 2; attempt 1's 5xx
/// goes out late; attempt 2 gets its own 5xx; attempt 3 comes at `third`.
fn late_reply_then_retry(third: u64) -> Backoff {
    let mut b = Backoff::default();
    let op = 9;
    assert_eq!(b.arrival(op, &[], MS(0)), 1);
    assert_eq!(b.arrival(op, &[], MS(10_000)), 2, "the client timed out");
    let long = Advice::RetryAfter(Duration::from_secs(30));
    b.faulted_reply(op, 1, MS(10_050), long);
    b.faulted_reply(op, 2, MS(10_100), AFTER_1S);
    assert_eq!(b.arrival(op, &[], MS(third)), 3);
    b
}

#[test]
fn a_late_reply_to_an_abandoned_attempt_grades_nothing() {
    // Correct: attempt 3 waits out attempt 2's advice.
    let b = late_reply_then_retry(11_200);
    assert_eq!(counts(&b), (1, 0, 1), "{:?}", b.grade_view());
    let gap = b.grade_view().gap;
    assert!(
        (gap.max_ms - 1100.0).abs() < 2.0,
        "graded against attempt 2: {gap:?}"
    );
    // Flawed: attempt 3 comes before attempt 2's advice.
    let b = late_reply_then_retry(10_400);
    assert_eq!(counts(&b), (1, 1, 1), "{:?}", b.grade_view());
}

#[test]
fn a_late_reply_does_not_overwrite_the_current_one() {
    let mut b = Backoff::default();
    b.arrival(4, &[], MS(0));
    b.arrival(4, &[], MS(100));
    b.faulted_reply(4, 2, MS(200), AFTER_1S);
    b.faulted_reply(4, 1, MS(5_000), AFTER_1S);
    b.arrival(4, &[], MS(1_300));
    assert_eq!(counts(&b), (1, 0, 1));
}

#[test]
fn resubmitted_failed_actions_are_the_retry_of_their_reply() {
    let (failed, fine, other) = ([1; 16], [2; 16], [3; 16]);
    let partly = |resubmit_at: u64| {
        let mut b = Backoff::default();
        let attempt = b.arrival(1, &[failed, fine], MS(0));
        b.partial_reply(1, attempt, &[failed], MS(10), FLOOR);
        // Another request, without the failed action, is not its retry.
        b.arrival(2, &[other], MS(20));
        let attempt = b.arrival(3, &[failed], MS(resubmit_at));
        (b, attempt)
    };
    let (b, attempt) = partly(30);
    let g = b.grade_view();
    assert_eq!(
        attempt, 2,
        "the resubmission continues the batch's attempts"
    );
    assert_eq!(
        (g.partial_replies, g.retries, g.retries_linked, g.early),
        (1, 1, 1, 1),
        "at once: early"
    );
    let (b, _) = partly(600);
    assert_eq!(counts(&b), (1, 0, 0), "after min_backoff: on time");
}

#[test]
fn a_partial_reply_to_an_abandoned_attempt_arms_nothing() {
    let mut b = Backoff::default();
    b.arrival(1, &[[1; 16]], MS(0));
    b.arrival(1, &[[1; 16]], MS(100));
    b.partial_reply(1, 1, &[[1; 16]], MS(200), FLOOR);
    b.arrival(2, &[[1; 16]], MS(210));
    assert_eq!(counts(&b), (0, 0, 1));
}

#[test]
fn memory_stays_bounded() {
    let mut b = Backoff::with_capacity(8);
    for op in 0..100u64 {
        let attempt = b.arrival(op, &[], MS(op));
        b.partial_reply(op, attempt, &[[op as u8; 16]], MS(op), FLOOR);
    }
    assert!(b.ops.len() <= 8 && b.fps.len() <= 8);
    assert!(b.op_order.len() <= 16 + 1 && b.fp_order.len() <= 16 + 1);
    assert_eq!(b.arrival(0, &[], MS(200)), 1, "the oldest were forgotten");
    assert_eq!(b.arrival(99, &[], MS(200)), 2, "the newest were not");
}

#[test]
fn an_operation_unseen_for_the_horizon_is_forgotten() {
    let mut b = Backoff::default();
    let min = |m: u64| MS(m * 60_000);
    assert_eq!(b.arrival(1, &[], min(0)), 1);
    assert_eq!(b.arrival(1, &[], min(9)), 2, "within the horizon: a retry");
    assert_eq!(b.arrival(2, &[], min(20)), 1);
    assert_eq!(b.ops.len(), 1, "op 1, last seen at 9 min, is gone at 20");
    assert_eq!(b.arrival(1, &[], min(20)), 1, "a new first attempt");
}

/// Ten outages a minute apart, 16 clients answered 503 + `Retry-After: 1` in
/// each; every client comes back after the advice plus `extra` (drawn per retry).
fn fleet(mut extra: impl FnMut() -> Duration) -> BackoffGrade {
    let mut b = Backoff::default();
    for outage in 0..10u64 {
        for client in 0..16u64 {
            let (op, at) = (outage * 100 + client, outage * 60_000 + client * 20);
            faulted(&mut b, op, at, 5, AFTER_1S);
            b.arrival(op, &[], MS(at + 5 + 1000) + extra());
        }
    }
    b.grade_view()
}

#[test]
fn jitter_is_the_spread_of_retries_told_the_same_thing() {
    // Flawed: 300 ms late, every one of them: no retry is early and the median
    // lateness looks like jitter, yet they come back together.
    let flat = fleet(|| MS(300));
    assert_eq!(flat.early, 0);
    assert!((flat.over_advice.p50_ms - 300.0).abs() < 1.0, "{flat:?}");
    let s = flat.spread.expect("ten groups");
    assert_eq!((s.groups, s.retries), (10, 160));
    assert!(s.iqr_p50_ms < 100.0, "fails a 100 ms threshold: {s:?}");
    // Correct: U(0, 1 s) on top of the advice.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let jittered = fleet(|| Duration::from_secs_f64(rng.random::<f64>()));
    let s = jittered.spread.expect("ten groups");
    assert!(s.iqr_p50_ms > 300.0 && s.iqr_p50_ms < 700.0, "{s:?}");
    assert!(s.iqr_min_ms >= 100.0, "every group passes: {s:?}");
}

#[test]
fn no_spread_without_a_large_enough_group() {
    let g = fleet_of(7);
    assert_eq!(g.retries, 7);
    assert_eq!(g.spread, None);
    assert!(
        !serde_json::to_string(&g).expect("json").contains("spread"),
        "absent, not null"
    );
}

fn fleet_of(n: u64) -> BackoffGrade {
    let mut b = Backoff::default();
    for op in 0..n {
        faulted(&mut b, op, 0, 5, AFTER_1S);
        b.arrival(op, &[], MS(1005 + op));
    }
    b.grade_view()
}

#[test]
fn attempt_numbers_saturate() {
    let mut b = Backoff::default();
    b.ops.insert(
        5,
        Op {
            attempts: u32::MAX,
            ..Op::default()
        },
    );
    assert_eq!(b.arrival(5, &[], MS(0)), u32::MAX);
}
