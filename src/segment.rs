//! Scale-out: one plan run as `n` segments (`gauntlet run --segment i/n`), each
//! a process of its own, on one machine or many (a Kubernetes Indexed Job), and
//! joined again by `gauntlet merge`.
//!
//! A segment takes every n-th batch of the plan's schedule (the pacer still draws
//! the whole schedule, so the segments partition it exactly, like k6's execution
//! segments) and keeps the batch numbers of the whole plan, so idempotency keys,
//! action payloads and object ids never collide across segments. All segments of
//! one plan and seed share the run's id: on one twin their actions are one run's
//! account.
//!
//! On a shared twin (a remote twin every segment points at: one organization's
//! limit shared), segment 0 resets it and installs the plan's faults labelled
//! with the run's id, [`SHARED_LEAD`] ahead; the others wait for that label and
//! begin on the same zero. No segment reads the twin's account: `gauntlet merge
//! --twin URL` reads it once, after all have ended, so the totals are exact.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::exit::UsageError;
use crate::twin_link::TwinLink;

/// Segments a plan may be cut into.
pub const MAX_SEGMENTS: u32 = 1024;
/// On a shared twin, how far ahead segment 0 sets the zero: the others must
/// start within it.
pub const SHARED_LEAD: Duration = Duration::from_secs(10);
/// How long a segment waits for segment 0 to install the run's faults.
pub const MEET_TIMEOUT: Duration = Duration::from_secs(300);

/// This process's share of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Segment {
    /// 0-based.
    pub index: u32,
    pub count: u32,
    /// Every segment points at one twin, whose account `gauntlet merge` reads.
    #[serde(default)]
    pub shared_twin: bool,
    /// On a shared twin: the twin time (ms) segment 0 installed the run's faults
    /// at, the same in every segment of one launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<u64>,
}

impl Segment {
    /// Parse `i/n` (0 <= i < n <= 1024).
    pub fn parse(s: &str) -> Result<Segment, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--segment {s}: write it as i/n, e.g. 0/4"))?;
        let num = |x: &str| {
            x.trim()
                .parse::<u32>()
                .map_err(|_| format!("--segment {s}: {x:?} is not a whole number"))
        };
        let (index, count) = (num(i)?, num(n)?);
        if count == 0 || count > MAX_SEGMENTS {
            return Err(format!(
                "--segment {s}: the count must be within 1..={MAX_SEGMENTS}"
            ));
        }
        if index >= count {
            return Err(format!(
                "--segment {s}: segments are numbered from 0 to {}",
                count - 1
            ));
        }
        Ok(Segment {
            index,
            count,
            shared_twin: false,
            launch: None,
        })
    }

    /// `2/4`, as a person reads it (and as the folder names it).
    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

/// A segment other than 0 on a shared twin: wait until segment 0 has installed
/// the run's faults (labelled `run_id`), and return the local instant of their
/// zero. A segment arriving after the zero is refused (its share would be sent
/// in a burst); a label whose zero is more than `run_length` old is an earlier
/// run's of the same plan, and the wait goes on. Also answers the launch: the
/// twin time (ms) the faults were installed at.
pub async fn meet(
    link: &TwinLink,
    run_id: &str,
    run_length: Duration,
) -> anyhow::Result<(Instant, u64)> {
    let deadline = Instant::now() + MEET_TIMEOUT;
    loop {
        let asked = Instant::now();
        // The twin may not answer yet (its pod starting): ask again until the deadline.
        let read = link.rules_label().await.unwrap_or_else(|e| {
            tracing::debug!("the shared twin does not answer yet: {e:#}");
            None
        });
        if let Some((Some(label), epoch, now)) = read
            && label == run_id
        {
            let zero = epoch + SHARED_LEAD;
            let stale = now > zero + run_length;
            if now > zero && !stale {
                return Err(UsageError(format!(
                    "this segment reached the shared twin {:.1} s after the run began; start every segment within {} s of segment 0",
                    (now - zero).as_secs_f64(),
                    SHARED_LEAD.as_secs()
                ))
                .into());
            }
            if !stale {
                return Ok((asked + (zero - now), epoch.as_millis() as u64));
            }
        }
        if Instant::now() >= deadline {
            return Err(UsageError(format!(
                "segment 0 did not install run {run_id}'s faults on the shared twin within {} s",
                MEET_TIMEOUT.as_secs()
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_parsed_and_bad_ones_named() {
        assert_eq!(
            Segment::parse("1/4"),
            Ok(Segment {
                index: 1,
                count: 4,
                shared_twin: false,
                launch: None
            })
        );
        for bad in ["4/4", "1", "a/2", "0/0", "0/5000"] {
            let e = Segment::parse(bad).expect_err(bad);
            assert!(e.contains(bad), "{e}");
        }
    }
}
