//! HdrHistogram interval logs, written and read back: the run's totals per
//! histogram (`histograms.hlog`, one tagged entry each) and its interval log
//! (`latency.hlog`). `gauntlet merge` reads both, so nothing is lost between
//! segments: histograms are added bucket by bucket, never percentiles averaged.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

/// The file a run's total histograms go to.
pub const TOTALS: &str = "histograms.hlog";

/// One histogram of a log.
#[derive(Debug, Clone)]
pub struct Entry {
    pub tag: Option<String>,
    /// From the log's base time.
    pub start: Duration,
    pub length: Duration,
    pub histogram: Histogram<u64>,
}

/// Write `histograms` (each under its tag) as one interval log, atomically.
pub fn write(
    path: &Path,
    start_time: SystemTime,
    length: Duration,
    histograms: &[(&str, &Histogram<u64>)],
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    {
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("gauntlet: a run's totals, one histogram per tag (microseconds; attempts are counts)")
            .with_start_time(start_time)
            .with_base_time(start_time)
            .begin_log_with(&mut bytes, &mut serializer)
            .map_err(|e| anyhow::anyhow!("cannot begin {}: {e:?}", path.display()))?;
        for (tag, h) in histograms {
            log.write_histogram(h, Duration::ZERO, length, Tag::new(tag))
                .map_err(|e| anyhow::anyhow!("cannot write {tag} to {}: {e:?}", path.display()))?;
        }
    }
    bytes.flush()?;
    crate::soak::save::write_atomic(path, &bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Every histogram in the interval log at `path`, in order.
pub fn read(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    let mut deserializer = Deserializer::new();
    for (line, entry) in IntervalLogIterator::new(&text).enumerate() {
        let entry = entry.map_err(|e| {
            anyhow::anyhow!(
                "{}: entry {} is not an interval log line: {e:?}",
                path.display(),
                line + 1
            )
        })?;
        let LogEntry::Interval(i) = entry else {
            continue;
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(i.encoded_histogram())
            .with_context(|| format!("{}: a histogram is not base64", path.display()))?;
        let histogram: Histogram<u64> = deserializer
            .deserialize(&mut std::io::Cursor::new(raw))
            .map_err(|e| {
                anyhow::anyhow!("{}: a histogram does not decode: {e:?}", path.display())
            })?;
        out.push(Entry {
            tag: i.tag().map(|t| t.as_str().to_string()),
            start: i.start_timestamp(),
            length: i.duration(),
            histogram,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_come_back_exactly_under_their_tags() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(TOTALS);
        let mut a = crate::measure::hist();
        let mut b = crate::measure::hist();
        for v in [1_000u64, 2_500, 900_000] {
            a.record(v).expect("in range");
        }
        b.record_n(42, 7).expect("in range");
        write(
            &path,
            SystemTime::now(),
            Duration::from_secs(3),
            &[("latency", &a), ("attempts", &b)],
        )
        .expect("write");
        let back = read(&path).expect("read");
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].tag.as_deref(), Some("latency"));
        assert_eq!(back[0].histogram, a);
        assert_eq!(back[1].histogram, b);
        assert_eq!(back[1].length, Duration::from_secs(3));
    }
}
