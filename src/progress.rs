//! The live progress of a run on the terminal: on a TTY, one line redrawn in place
//! (indicatif) with elapsed/total, actions/s, errors, p99 and the fault windows open
//! now; otherwise (CI, a pipe) a plain line every [`PLAIN_EVERY`], so logs stay short.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::{FaultWindow, IntervalRow};

/// How often a plain line is printed when stderr is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Where progress goes.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    total_s: f64,
    windows: Vec<FaultWindow>,
    next_plain_s: f64,
}

impl Progress {
    /// A bar on a terminal, plain lines otherwise.
    pub fn new(total: Duration, windows: Vec<FaultWindow>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = tty.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total.as_secs().max(1)),
                ProgressDrawTarget::stderr(),
            );
            let style = ProgressStyle::with_template("{prefix} [{bar:20.cyan/blue}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            total_s: total.as_secs_f64(),
            windows,
            next_plain_s: 0.0,
        }
    }

    /// The names of the windows open at `t` seconds into the schedule.
    pub fn open_at(&self, t: f64) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .windows
            .iter()
            .filter(|w| w.from_s <= t && t < w.to_s)
            .map(|w| w.name.as_str())
            .collect();
        names.dedup();
        names
    }

    /// The text for one interval.
    pub fn line(&self, r: &IntervalRow) -> String {
        let open = self.open_at(r.end_s);
        format!(
            "{:>5.0} actions/s  errors {:>3}  p99 {:>7.1} ms  faults: {}",
            r.accepted_per_s,
            r.errors,
            r.p99_ms,
            if open.is_empty() {
                "none".to_string()
            } else {
                open.join(", ")
            }
        )
    }

    /// An interval ended.
    pub fn update(&mut self, r: &IntervalRow) {
        let prefix = if r.end_s > self.total_s + 0.5 {
            // The schedule is over; batches still in flight are retrying.
            format!("[{:>4.0}s/{:.0}s, draining]", r.end_s, self.total_s)
        } else {
            format!("[{:>4.0}s/{:.0}s]", r.end_s.max(0.0), self.total_s)
        };
        if let Some(bar) = &self.bar {
            bar.set_prefix(prefix);
            bar.set_position(r.end_s.max(0.0) as u64);
            bar.set_message(self.line(r));
        } else if r.end_s >= self.next_plain_s {
            let _ = writeln!(std::io::stderr(), "{prefix} {}", self.line(r));
            self.next_plain_s = r.end_s + PLAIN_EVERY.as_secs_f64();
        }
    }

    /// The load is over: leave the last state on screen.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}
