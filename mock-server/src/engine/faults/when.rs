//! When a rule is live: always, in a window, or in a recurring window.

use std::time::Duration;

/// When a rule is live, relative to the moment its rule set was installed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    Always,
    Window {
        at: Duration,
        len: Duration,
    },
    Every {
        at: Duration,
        period: Duration,
        len: Duration,
    },
}

impl When {
    /// Is the rule live at `t` (time since the rule set was installed)?
    pub fn live(&self, t: Duration) -> bool {
        match *self {
            When::Always => true,
            When::Window { at, len } => t >= at && t < at + len,
            When::Every { at, period, len } => {
                t >= at
                    && Duration::from_nanos(((t - at).as_nanos() % period.as_nanos()) as u64) < len
            }
        }
    }

    /// The end of the window that is open at `t`, if one is (`Always` has none).
    pub fn window_end(&self, t: Duration) -> Option<Duration> {
        if !self.live(t) {
            return None;
        }
        match *self {
            When::Always => None,
            When::Window { at, len } => Some(at + len),
            When::Every { at, period, len } => {
                let k = (t - at).as_nanos() / period.as_nanos();
                Some(at + Duration::from_nanos((period.as_nanos() * k) as u64) + len)
            }
        }
    }

    /// The number of the window open at `t`, counting from 0 (a single window is
    /// number 0); `None` when none is open, and always for `Always`.
    pub fn window_index(&self, t: Duration) -> Option<u64> {
        if !self.live(t) {
            return None;
        }
        match *self {
            When::Always => None,
            When::Window { .. } => Some(0),
            When::Every { at, period, .. } => {
                Some(((t - at).as_nanos() / period.as_nanos()) as u64)
            }
        }
    }

    /// The windows that open before `until`, oldest first, at most `cap`, each
    /// clipped to `until`. `Always` has none: it is not a window.
    pub fn windows(&self, until: Duration, cap: usize) -> Vec<(Duration, Duration)> {
        match *self {
            When::Always => Vec::new(),
            When::Window { at, len } if at < until => vec![(at, (at + len).min(until))],
            When::Window { .. } => Vec::new(),
            When::Every { at, period, len } => {
                let mut out = Vec::new();
                let mut start = at;
                while start < until && out.len() < cap && !period.is_zero() {
                    out.push((start, (start + len).min(until)));
                    start += period;
                }
                out
            }
        }
    }

    /// Ends of windows that closed at or before `t`, newest last, at most `cap`.
    pub fn ended_windows(&self, t: Duration, cap: usize) -> Vec<(Duration, Duration)> {
        match *self {
            When::Always => Vec::new(),
            When::Window { at, len } if at + len <= t => vec![(at, at + len)],
            When::Window { .. } => Vec::new(),
            When::Every { at, period, len } => {
                if t < at + len {
                    return Vec::new();
                }
                let last = ((t - at - len).as_nanos() / period.as_nanos()) as u64;
                let first = last.saturating_sub(cap as u64 - 1);
                (first..=last)
                    .map(|k| {
                        let start =
                            at + Duration::from_nanos((period.as_nanos() * k as u128) as u64);
                        (start, start + len)
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_end_is_the_end_of_the_open_window() {
        let s = Duration::from_secs;
        let once = When::Window {
            at: s(10),
            len: s(5),
        };
        let every = When::Every {
            at: s(1),
            period: s(10),
            len: s(2),
        };
        let cases = [
            (When::Always, s(3), None),
            (once, s(9), None),
            (once, s(10), Some(s(15))),
            (once, Duration::from_millis(14_999), Some(s(15))),
            (once, s(15), None),
            (every, s(0), None),
            (every, s(1), Some(s(3))),
            (every, Duration::from_millis(22_500), Some(s(23))),
            (every, s(24), None),
        ];
        for (when, t, want) in cases {
            assert_eq!(when.window_end(t), want, "{when:?} at {t:?}");
        }
    }

    #[test]
    fn window_index_counts_the_open_window() {
        let s = Duration::from_secs;
        let once = When::Window {
            at: s(10),
            len: s(5),
        };
        let every = When::Every {
            at: s(1),
            period: s(10),
            len: s(2),
        };
        let cases = [
            (When::Always, s(3), None),
            (once, s(9), None),
            (once, s(10), Some(0)),
            (once, s(15), None),
            (every, s(0), None),
            (every, s(1), Some(0)),
            (every, s(3), None),
            (every, s(11), Some(1)),
            (every, Duration::from_millis(22_500), Some(2)),
        ];
        for (when, t, want) in cases {
            assert_eq!(when.window_index(t), want, "{when:?} at {t:?}");
        }
    }
}
