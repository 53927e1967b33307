//! Interval snapshots during a run: every `every`, the recorder's interval
//! histograms go to `latency.hlog` (the HdrHistogram interval log format, readable
//! by HistogramLogAnalyzer and every HdrHistogram port) and the progress display
//! ([`crate::progress`]) is updated. Memory stays flat: a snapshot is written, summarized in one row, dropped.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use tokio_util::sync::CancellationToken;

use crate::measure::{Counts, Interval, Recorder};
use crate::progress::Progress;
use crate::report::IntervalRow;

/// Rows kept in memory at most (a day at 1 s intervals); later ones are only logged.
pub const MAX_ROWS: usize = 86_400;

fn errors(c: &Counts) -> u64 {
    c.outcomes
        .iter()
        .filter(|(k, _)| !k.starts_with('2'))
        .map(|(_, v)| *v)
        .sum()
}

fn row(iv: &Interval, prev: &Counts) -> IntervalRow {
    let secs = (iv.end - iv.start).max(1e-9);
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    IntervalRow {
        end_s: iv.end,
        accepted_per_s: (iv.counts.accepted - prev.accepted) as f64 / secs,
        requests: iv.counts.requests - prev.requests,
        errors: errors(&iv.counts) - errors(prev),
        p50_ms: ms(&iv.hists.latency, 0.5),
        p99_ms: ms(&iv.hists.latency, 0.99),
    }
}

/// Snapshot until `stop`, then once more; returns the interval rows. `start_time`
/// is the wall-clock time of the recorder's zero (the schedule's start): the log's
/// `StartTime` and `BaseTime`, so interval offsets read as times of day.
pub async fn run(
    rec: Arc<Recorder>,
    every: Duration,
    mut progress: Progress,
    hlog: PathBuf,
    start_time: SystemTime,
    stop: CancellationToken,
) -> Vec<IntervalRow> {
    let mut out: Box<dyn Write + Send> = match std::fs::File::create(&hlog) {
        Ok(f) => Box::new(std::io::BufWriter::new(f)),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "warning: cannot write {}: {e}; continuing without it",
                hlog.display()
            );
            Box::new(std::io::sink())
        }
    };
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("gauntlet: latency from the intended send time, microseconds; tag service = from the actual send")
        .with_start_time(start_time)
        .with_base_time(start_time)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut serializer)
        .ok();
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let (mut rows, mut last_end, mut prev) = (Vec::new(), 0.0, Counts::default());
    loop {
        let stopped = tokio::select! {
            _ = ticker.tick() => false,
            _ = stop.cancelled() => true,
        };
        let iv = rec.snapshot(last_end);
        if let Some(log) = log.as_mut() {
            let (start, len) = (
                Duration::from_secs_f64(iv.start),
                Duration::from_secs_f64((iv.end - iv.start).max(0.0)),
            );
            let _ = log.write_histogram(&iv.hists.latency, start, len, None);
            let _ = log.write_histogram(&iv.hists.service, start, len, Tag::new("service"));
        }
        let r = row(&iv, &prev);
        progress.update(&r);
        if rows.len() < MAX_ROWS {
            rows.push(r);
        }
        last_end = iv.end;
        prev = iv.counts;
        if stopped {
            break;
        }
    }
    progress.finish();
    drop(log);
    let _ = out.flush();
    rows
}
