//! Interval snapshots during a run: every `every`, the recorder's interval
//! histograms go to `latency.hlog` (the HdrHistogram interval log format, readable
//! by HistogramLogAnalyzer and every HdrHistogram port) and the progress display
//! ([`crate::progress`]) is updated. Each row also samples the harness's memory
//! and descriptors and reads the twin's status (a restart is caught here).
//! Every `save.every` the run folder gets a whole snapshot (`summary.json` so
//! far and its reports, written atomically). Memory stays flat: an interval is
//! written, summarized in one row, dropped.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use tokio_util::sync::CancellationToken;

use crate::measure::{Counts, Interval, Recorder};
use crate::plan::Thresholds;
use crate::progress::Progress;
use crate::report::IntervalRow;
use crate::soak::target::{Restart, TwinReading, Watch};

/// Rows kept in memory at most (a day at 1 s intervals); later ones are only logged.
pub const MAX_ROWS: usize = 86_400;

/// Saves the run folder as it is so far: the rows and restarts until now.
pub type SaveFn = Arc<dyn Fn(&[IntervalRow], &[Restart], f64) + Send + Sync>;

/// What the snapshot task does besides the interval log.
pub struct Snapshotting {
    pub rec: Arc<Recorder>,
    pub every: Duration,
    pub progress: Progress,
    pub hlog: PathBuf,
    /// The wall-clock time of the recorder's zero (the schedule's start): the
    /// log's `StartTime` and `BaseTime`, so interval offsets read as times of day.
    pub start_time: SystemTime,
    pub stop: CancellationToken,
    /// The twin, read every interval.
    pub watch: Option<Watch>,
    /// The first and last thirds of the measured run (seconds into the schedule),
    /// whose latency the drift check compares.
    pub thirds: [(f64, f64); 2],
    /// How often, and how, the folder is saved while the run goes on.
    pub save: Option<(Duration, SaveFn)>,
    /// For the progress line's last window.
    pub thresholds: Thresholds,
    /// Test only: MiB the harness leaks each second (proves the RSS check).
    pub leak_mib_per_s: f64,
}

impl std::fmt::Debug for Snapshotting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshotting")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// What the snapshots leave for the summary.
#[derive(Debug)]
pub struct Ended {
    pub rows: Vec<IntervalRow>,
    /// Latency of the first and last thirds of the measured run.
    pub thirds: (Histogram<u64>, Histogram<u64>),
    pub restarts: Vec<Restart>,
}

fn sum_of(c: &Counts, keep: impl Fn(&str) -> bool) -> u64 {
    c.outcomes
        .iter()
        .filter(|(k, _)| keep(k))
        .map(|(_, v)| *v)
        .sum()
}

fn no_reply(k: &str) -> bool {
    matches!(k, "refused" | "reset" | "timeout")
}

fn row(iv: &Interval, prev: &Counts, twin: TwinReading) -> IntervalRow {
    let secs = (iv.end - iv.start).max(1e-9);
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let errors = |c: &Counts| sum_of(c, |k| !k.starts_with('2'));
    IntervalRow {
        end_s: iv.end,
        accepted_per_s: (iv.counts.accepted - prev.accepted) as f64 / secs,
        requests: iv.counts.requests - prev.requests,
        errors: errors(&iv.counts) - errors(prev),
        unreachable: sum_of(&iv.counts, no_reply) - sum_of(prev, no_reply),
        p50_ms: ms(&iv.hists.latency, 0.5),
        p99_ms: ms(&iv.hists.latency, 0.99),
        rss_mb: gauntlet_mock::engine::status::rss_bytes().map(|b| b as f64 / (1 << 20) as f64),
        fds: gauntlet_mock::engine::status::open_fds(),
        heap_mb: crate::heap::allocated_bytes().map(|b| b as f64 / (1 << 20) as f64),
        twin_up: twin.up,
        twin_rss_mb: twin.rss_mb,
        twin_fds: twin.fds,
        tape_entries: twin.tape_entries,
    }
}

/// The interval log, or a sink when it cannot be written (said once).
fn hlog_file(path: &PathBuf) -> Box<dyn Write + Send> {
    match std::fs::File::create(path) {
        // Unbuffered: each interval reaches the file as it is written, so a
        // crash loses at most the interval under way.
        Ok(f) => Box::new(f),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "warning: cannot write {}: {e}; continuing without it",
                path.display()
            );
            Box::new(std::io::sink())
        }
    }
}

/// Snapshot until `stop`, then once more.
pub async fn run(mut s: Snapshotting) -> Ended {
    let mut out = hlog_file(&s.hlog);
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("gauntlet: latency from the intended send time, microseconds; tag service = from the actual send")
        .with_start_time(s.start_time)
        .with_base_time(s.start_time)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut serializer)
        .ok();
    let mut ticker = tokio::time::interval(s.every);
    ticker.tick().await;
    let (mut rows, mut last_end, mut prev) = (Vec::new(), 0.0, Counts::default());
    let mut thirds = (crate::measure::hist(), crate::measure::hist());
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    let mut next_save = s.save.as_ref().map(|(every, _)| every.as_secs_f64());
    loop {
        let stopped = tokio::select! {
            _ = ticker.tick() => false,
            _ = s.stop.cancelled() => true,
        };
        let iv = s.rec.snapshot(last_end);
        if let Some(log) = log.as_mut() {
            let (start, len) = (
                Duration::from_secs_f64(iv.start.max(0.0)),
                Duration::from_secs_f64((iv.end - iv.start).max(0.0)),
            );
            let _ = log.write_histogram(&iv.hists.latency, start, len, None);
            let _ = log.write_histogram(&iv.hists.service, start, len, Tag::new("service"));
        }
        for (h, (from, to)) in [&mut thirds.0, &mut thirds.1].into_iter().zip(s.thirds) {
            if iv.end > from && iv.end <= to {
                let _ = h.add(&iv.hists.latency);
            }
        }
        if s.leak_mib_per_s > 0.0 {
            let n = (s.leak_mib_per_s * (iv.end - iv.start).max(0.0) * (1 << 20) as f64) as usize;
            hoard.push(vec![1u8; n]);
        }
        let twin = match s.watch.as_mut() {
            Some(w) => w.tick(Duration::from_secs_f64(iv.end.max(0.0))).await,
            None => TwinReading::default(),
        };
        let r = row(&iv, &prev, twin);
        let last_window = s.rec.last_window(r.end_s, &s.thresholds);
        s.progress.update(&r, last_window.as_ref());
        if rows.len() < MAX_ROWS {
            rows.push(r);
        }
        last_end = iv.end;
        prev = iv.counts;
        if let (Some((every, save)), Some(at)) = (&s.save, next_save)
            && last_end >= at
            && !stopped
        {
            let (save, snapshot) = (save.clone(), rows.clone());
            let restarts = s
                .watch
                .as_ref()
                .map(|w| w.restarts.clone())
                .unwrap_or_default();
            let at_s = last_end;
            let _ = tokio::task::spawn_blocking(move || save(&snapshot, &restarts, at_s)).await;
            next_save = Some(last_end + every.as_secs_f64());
        }
        if stopped {
            break;
        }
    }
    s.progress.finish();
    drop(log);
    let _ = out.flush();
    drop(hoard);
    Ended {
        rows,
        thirds,
        restarts: s.watch.map(|w| w.restarts).unwrap_or_default(),
    }
}
