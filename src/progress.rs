//! The live progress of a run on the terminal: on a TTY, one line redrawn in place
//! (indicatif) with elapsed/total and the time left, actions/s, errors, p99, the
//! fault windows open now and the last window's verdict (the client's side); a
//! target that cannot be reached says so. Otherwise (CI, a pipe) a plain line
//! every [`PLAIN_EVERY`], so logs stay short.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::{FaultWindow, IntervalRow};
use crate::soak::windows::WindowVerdict;

/// How often a plain line is printed when stderr is not a terminal.
pub const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// Where progress goes.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    total_s: f64,
    windows: Vec<FaultWindow>,
    next_plain_s: f64,
    /// Where the current interval began.
    last_end_s: f64,
    /// The last plain line not yet printed, printed by `finish`.
    pending: Option<String>,
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
            last_end_s: 0.0,
            pending: None,
        }
    }

    /// The names of the windows open at some time in [`from`, `to`) seconds into
    /// the schedule (a window shorter than an interval is still named).
    pub fn open_during(&self, from: f64, to: f64) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .windows
            .iter()
            .filter(|w| w.from_s < to.max(from + 1e-9) && from < w.to_s)
            .map(|w| w.name.as_str())
            .collect();
        names.dedup();
        names
    }

    /// The text for the interval from `from_s` to the row's end.
    pub fn line(&self, from_s: f64, r: &IntervalRow) -> String {
        let open = self.open_during(from_s, r.end_s);
        let mut line = format!(
            "{:>5.0} actions/s  errors {:>3}  p99 {:>7.1} ms  faults: {}",
            r.accepted_per_s,
            r.errors,
            r.p99_ms,
            if open.is_empty() {
                "none".to_string()
            } else {
                open.join(", ")
            }
        );
        if r.unreachable > 0 {
            line.push_str(&format!(
                "  TARGET UNREACHABLE ({} no reply)",
                r.unreachable
            ));
        } else if r.twin_up == Some(false) {
            line.push_str("  twin status unanswered");
        }
        line
    }

    /// An interval ended; `last_window` is the client's verdict on the window
    /// that ended last, if one has.
    pub fn update(&mut self, r: &IntervalRow, last_window: Option<&WindowVerdict>) {
        let prefix = if r.end_s > self.total_s + 0.5 {
            // The schedule is over; batches still in flight are retrying.
            format!("[{:>4.0}s/{:.0}s, draining]", r.end_s, self.total_s)
        } else {
            let left = (self.total_s - r.end_s).max(0.0);
            format!(
                "[{:>4.0}s/{:.0}s, {} left]",
                r.end_s.max(0.0),
                self.total_s,
                humantime::format_duration(Duration::from_secs(left as u64))
            )
        };
        let mut line = self.line(self.last_end_s, r);
        if let Some(w) = last_window {
            let verdict = match w.failed.first() {
                None => "pass".to_string(),
                Some(f) => format!("FAIL: {f}"),
            };
            line.push_str(&format!("  last window {}: {verdict}", w.name));
        }
        self.last_end_s = r.end_s;
        if let Some(bar) = &self.bar {
            bar.set_prefix(prefix);
            bar.set_position(r.end_s.max(0.0) as u64);
            bar.set_message(line);
        } else if r.end_s >= self.next_plain_s {
            let _ = writeln!(std::io::stderr(), "{prefix} {line}");
            self.next_plain_s = r.end_s + PLAIN_EVERY.as_secs_f64();
            self.pending = None;
        } else {
            self.pending = Some(format!("{prefix} {line}"));
        }
    }

    /// The load is over: leave the last state on screen (in a log, the last line).
    pub fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        } else if let Some(line) = self.pending.take() {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}
