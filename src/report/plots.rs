//! The report's plots, drawn with plotters into SVG strings (no fonts to load, no
//! network: the page inlines them).

use plotters::prelude::*;

use super::{FaultWindow, IntervalRow, RunSummary};
use crate::measure::{AttemptsBar, BackoffPoint, PercentilePoint};

pub type PlotResult = Result<String, Box<dyn std::error::Error + Send + Sync>>;

const WIDTH: u32 = 960;
const FONT: &str = "sans-serif";
const SHADE_FAULT: RGBColor = RGBColor(244, 180, 180);
const SHADE_SURGE: RGBColor = RGBColor(180, 200, 244);
const C_MAIN: RGBColor = RGBColor(31, 119, 180);
const C_SECOND: RGBColor = RGBColor(255, 127, 14);
const C_THIRD: RGBColor = RGBColor(44, 160, 44);
const C_BAD: RGBColor = RGBColor(214, 39, 40);

fn upper(values: impl Iterator<Item = f64>, min: f64) -> f64 {
    let m = values.fold(0.0, f64::max);
    if m > 0.0 { m * 1.1 } else { min }
}

fn shade<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    windows: &[FaultWindow],
    top: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart.draw_series(windows.iter().map(|w| {
        let color = if w.kind == "surge" {
            SHADE_SURGE
        } else {
            SHADE_FAULT
        };
        Rectangle::new([(w.from_s, 0.0), (w.to_s, top)], color.mix(0.45).filled())
    }))?;
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
}

/// Throughput, errors and latency over time, with fault windows (red) and
/// surges (blue) shaded: three panels sharing the time axis.
pub fn timeline(s: &RunSummary) -> PlotResult {
    let rows: &[IntervalRow] = &s.intervals;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 640)).into_drawing_area();
        root.fill(&WHITE)?;
        let end = rows
            .iter()
            .map(|r| r.end_s)
            .fold(s.planned_s.max(1.0), f64::max);
        let panels = root.split_evenly((3, 1));
        let offered = s.offered_rate;
        // Throughput.
        let top = upper(rows.iter().map(|r| r.accepted_per_s).chain([offered]), 1.0);
        let mut c = ChartBuilder::on(&panels[0])
            .caption(
                "accepted actions/s (shaded: red fault windows, blue surges)",
                (FONT, 16),
            )
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        c.configure_mesh().y_desc("actions/s").draw()?;
        shade(&mut c, &s.fault_windows, top)?;
        c.draw_series(LineSeries::new(
            [(0.0, offered), (s.planned_s, offered)],
            C_SECOND.stroke_width(1),
        ))?
        .label("offered (base rate)")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], C_SECOND));
        c.draw_series(LineSeries::new(
            rows.iter().map(|r| (r.end_s, r.accepted_per_s)),
            C_MAIN.stroke_width(2),
        ))?
        .label("accepted")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], C_MAIN));
        legend(&mut c, SeriesLabelPosition::MiddleRight)?;
        // Errors.
        let top = upper(rows.iter().map(|r| r.errors as f64), 1.0);
        let mut c = ChartBuilder::on(&panels[1])
            .caption("attempts without a 2xx, per interval", (FONT, 16))
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        c.configure_mesh().y_desc("errors").draw()?;
        shade(&mut c, &s.fault_windows, top)?;
        c.draw_series(LineSeries::new(
            rows.iter().map(|r| (r.end_s, r.errors as f64)),
            C_BAD.stroke_width(2),
        ))?;
        // Latency.
        let top = upper(rows.iter().map(|r| r.p99_ms), 1.0);
        let mut c = ChartBuilder::on(&panels[2])
            .caption(
                "latency from the intended send, per interval (ms)",
                (FONT, 16),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        c.configure_mesh().x_desc("seconds").y_desc("ms").draw()?;
        shade(&mut c, &s.fault_windows, top)?;
        // An interval with no reply has no latency: leave it out rather than draw 0.
        let replied = || rows.iter().filter(|r| r.p99_ms > 0.0);
        c.draw_series(LineSeries::new(
            replied().map(|r| (r.end_s, r.p99_ms)),
            C_BAD.stroke_width(2),
        ))?
        .label("p99")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], C_BAD));
        c.draw_series(LineSeries::new(
            replied().map(|r| (r.end_s, r.p50_ms)),
            C_MAIN.stroke_width(2),
        ))?
        .label("p50")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], C_MAIN));
        legend(&mut c, SeriesLabelPosition::MiddleRight)?;
        root.present()?;
    }
    Ok(svg)
}

/// The percentile axis of HdrHistogram plots: x = log10(1 / (1 - p)), so 90%, 99%,
/// 99.9% are evenly spaced.
fn tail_x(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(1e-5);
    -rest.log10()
}

fn tail_label(x: &f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    if p >= 99.0 {
        let digits = (x.round() as usize).saturating_sub(2);
        format!("{p:.digits$}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Latency distributions on the HDR percentile scale.
pub fn percentiles(title: &str, series: &[(&str, &[PercentilePoint])]) -> PlotResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let xmax = series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .map(|p| tail_x(p.percentile))
            .fold(1.0, f64::max)
            .ceil();
        let top = upper(series.iter().flat_map(|(_, p)| p.iter()).map(|p| p.ms), 1.0);
        let mut c = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..xmax, 0.0..top)?;
        c.configure_mesh()
            .x_labels(xmax as usize + 1)
            .x_label_formatter(&tail_label)
            .x_desc("percentile")
            .y_desc("ms")
            .draw()?;
        for ((name, points), color) in series.iter().zip([C_MAIN, C_SECOND, C_THIRD]) {
            c.draw_series(LineSeries::new(
                points.iter().map(|p| (tail_x(p.percentile), p.ms)),
                color.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        }
        legend(&mut c, SeriesLabelPosition::UpperLeft)?;
        root.present()?;
    }
    Ok(svg)
}

/// Each sampled retry: the wait the server advised against the wait the client
/// took. Points under the diagonal are early retries; retries with no advice sit
/// at x = 0.
pub fn backoff(points: &[BackoffPoint]) -> PlotResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let top = upper(points.iter().flat_map(|p| [p.gap_ms, p.advised_ms]), 1000.0);
        let mut c = ChartBuilder::on(&root)
            .caption(
                "backoff: the client's wait against the advised wait (below the line: early)",
                (FONT, 16),
            )
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..top, 0.0..top)?;
        c.configure_mesh()
            .x_desc("advised wait, ms (Retry-After; 0 = none)")
            .y_desc("client's wait, ms")
            .draw()?;
        c.draw_series(LineSeries::new([(0.0, 0.0), (top, top)], BLACK.mix(0.5)))?
            .label("waited exactly as advised")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
        c.draw_series(points.iter().map(|p| {
            let color = if p.gap_ms < p.advised_ms {
                C_BAD
            } else {
                C_MAIN
            };
            Circle::new((p.advised_ms, p.gap_ms), 3, color.mix(0.6).filled())
        }))?;
        legend(&mut c, SeriesLabelPosition::UpperLeft)?;
        root.present()?;
    }
    Ok(svg)
}

/// Batches by the attempts they needed (log scale: the first attempt dominates).
pub fn attempts(bars: &[AttemptsBar]) -> PlotResult {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let most = bars.iter().map(|b| b.attempts).max().unwrap_or(1).max(1);
        let top = bars.iter().map(|b| b.batches).max().unwrap_or(1).max(1) as f64 * 2.0;
        let mut c = ChartBuilder::on(&root)
            .caption("attempts per batch", (FONT, 16))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0.5..most as f64 + 0.5, (0.5..top).log_scale())?;
        c.configure_mesh()
            .disable_x_mesh()
            .x_labels((most as usize).min(20))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("attempts")
            .y_desc("batches")
            .draw()?;
        c.draw_series(bars.iter().map(|b| {
            let x = b.attempts as f64;
            Rectangle::new(
                [(x - 0.35, 0.5), (x + 0.35, b.batches as f64)],
                C_MAIN.filled(),
            )
        }))?;
        root.present()?;
    }
    Ok(svg)
}
