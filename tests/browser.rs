//! `report.html` opened in headless Chromium (Debian's package; `.ci/run` installs
//! it): its elements are there and its screenshot shows the plots.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::report::tempdir;

/// The most points on one `<polyline>` of an SVG.
fn longest_polyline(svg: &str) -> usize {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|p| {
            let at = p.find("points=\"")? + 8;
            let end = p[at..].find('"')?;
            Some(p[at..at + end].split_whitespace().count())
        })
        .max()
        .unwrap_or(0)
}

/// Debian's Chromium, as `.ci/run` installs it.
fn chromium() -> PathBuf {
    let found = std::env::var_os("GAUNTLET_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
    found.unwrap_or_else(|| {
        panic!("headless Chromium is needed for the report test: apt-get install chromium (.ci/run does)")
    })
}

fn headless(page: &Path, what: &[&str]) -> std::process::Output {
    let profile = tempdir("chromium-profile");
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,2600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(what)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts")
}

/// The page, opened in headless Chromium: its elements are there (the verdict, a
/// plot per figure, the tables) and its screenshot is not blank.
pub fn check_in_browser(dir: &Path, pass: bool) {
    let page = std::fs::canonicalize(dir.join("report.html")).expect("report.html");
    let dom = headless(&page, &["--dump-dom"]);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let verdict = if pass { "PASS" } else { "FAIL" };
    assert!(
        dom_text.contains(&format!("<h1 id=\"verdict\">{verdict}</h1>")),
        "the verdict heading: {dom_text:.2000}"
    );
    for id in [
        "plot-timeline",
        "plot-latency",
        "plot-accept",
        "plot-backoff",
        "plot-attempts",
    ] {
        let at = dom_text
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("figure {id} in the page"));
        let figure = &dom_text[at..];
        let figure = &figure[..figure.find("</figure>").expect("closed")];
        assert!(figure.contains("<svg"), "{id} holds an SVG");
        let drawn = match id {
            // A data series: a line through many points (axes and ticks have two).
            "plot-timeline" | "plot-latency" | "plot-accept" => longest_polyline(figure) > 5,
            "plot-backoff" => figure.contains("<circle"),
            // The background and at least one bar.
            _ => figure.matches("<rect").count() >= 2,
        };
        assert!(drawn, "{id} shows its data");
    }
    for id in ["checks", "oracle", "load", "provenance"] {
        assert!(dom_text.contains(&format!("id=\"{id}\"")), "table {id}");
    }
    assert!(!dom_text.contains("plot unavailable"), "every plot drew");
    if !pass {
        assert!(
            dom_text.contains("id=\"failed\""),
            "a failed run lists what failed"
        );
    }
    let shot = tempdir("shot").join("report.png");
    let out = headless(&page, &[&format!("--screenshot={}", shot.display())]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&shot).expect("screenshot written"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let colors: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    let inked = pixels
        .iter()
        .filter(|p| p.iter().take(3).any(|c| *c < 200))
        .count();
    assert!(
        colors.len() > 50 && inked * 100 > pixels.len(),
        "the screenshot shows the page: {} colors, {inked} of {} pixels inked",
        colors.len(),
        pixels.len()
    );
    // What the page draws, by its colours: the verdict banner, the data series
    // (plotters' blue), the shaded fault windows (red at 45% over white).
    let near = |want: [u8; 3], by: u8| {
        pixels
            .iter()
            .filter(|p| p.iter().zip(want).all(|(c, w)| c.abs_diff(w) <= by))
            .count()
    };
    let banner = if pass {
        [227, 244, 225]
    } else {
        [251, 228, 228]
    };
    for (what, rgb, by, least) in [
        ("the verdict banner", banner, 3, 5_000),
        ("the data series", [31, 119, 180], 12, 500),
        // Shading is there, whatever its width: the plan's windows are short and
        // the time axis spans the drain too, which varies from run to run.
        ("the shaded fault windows", [250, 222, 222], 6, 60),
    ] {
        let n = near(rgb, by);
        assert!(n >= least, "{what}: {n} pixels near {rgb:?}");
    }
}
