//! A small hand-written SVG line chart: stacked panels over one shared x
//! axis, with shaded bands (one per workload step). Enough for the
//! throughput plot; a plotting crate would add more to build than this.

use std::fmt::Write;

/// A line, drawn as separate polylines (one per segment, so gaps between
/// steps are not bridged).
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    pub segments: Vec<Vec<(f64, f64)>>,
}

pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

/// A shaded x range with a label on top (a workload step).
pub struct Band {
    pub x0: f64,
    pub x1: f64,
    pub label: String,
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 64.0;
const PANEL_H: f64 = 180.0;
const PANEL_GAP: f64 = 60.0;
const BOTTOM: f64 = 50.0;

/// A round tick step giving about five ticks up to `max`, and the axis top.
pub fn nice_axis(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil() * step)
}

/// 50000 → "50k", 1500000 → "1.5M", 2.5 → "2.5".
pub fn short(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let a = v.abs();
    if a >= 1e6 {
        trim(format!("{:.1}", v / 1e6)) + "M"
    } else if a >= 1e3 {
        trim(format!("{:.1}", v / 1e3)) + "k"
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        trim(format!("{v:.2}"))
    }
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart as a standalone SVG document.
pub fn chart(title: &str, x_label: &str, panels: &[Panel], bands: &[Band]) -> String {
    let xs = bands.iter().flat_map(|b| [b.x0, b.x1]).chain(
        panels
            .iter()
            .flat_map(|p| &p.series)
            .flat_map(|s| s.segments.iter().flatten().map(|p| p.0)),
    );
    let (mut x_min, mut x_max) = (f64::MAX, f64::MIN);
    for x in xs {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
    }
    if x_min >= x_max {
        (x_min, x_max) = (0.0, 1.0);
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let sx = |x: f64| LEFT + (x - x_min) / (x_max - x_min) * plot_w;
    let height = TOP + panels.len() as f64 * (PANEL_H + PANEL_GAP) - PANEL_GAP + BOTTOM;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL_H + PANEL_GAP);
        let bottom = top + PANEL_H;
        let y_max_data = panel
            .series
            .iter()
            .flat_map(|s| s.segments.iter().flatten().map(|p| p.1))
            .fold(0.0, f64::max);
        // Headroom, so a line at the maximum is not hidden by the frame.
        let (step, y_max) = nice_axis(y_max_data * 1.08);
        let sy = |y: f64| bottom - y / y_max * PANEL_H;
        for (k, b) in bands.iter().enumerate() {
            let fill = if k % 2 == 0 { "#f0f0f0" } else { "#e4e4e4" };
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{PANEL_H}" fill="{fill}"/>"#,
                sx(b.x0),
                (sx(b.x1) - sx(b.x0)).max(0.0)
            );
            if i == 0 {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                    (sx(b.x0) + sx(b.x1)) / 2.0,
                    top + 14.0,
                    escape(&b.label)
                );
            }
        }
        let mut y = 0.0;
        while y <= y_max + step / 2.0 {
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#cccccc" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                WIDTH - RIGHT,
                sy(y),
                sy(y),
                LEFT - 6.0,
                sy(y) + 4.0,
                short(y)
            );
            y += step;
        }
        let _ = writeln!(
            s,
            r#"<rect x="{LEFT}" y="{top:.1}" width="{plot_w:.1}" height="{PANEL_H}" fill="none" stroke="black"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">{}</text>"#,
            top - 8.0,
            escape(&panel.title)
        );
        // Legend, right-aligned above the panel.
        let mut lx = WIDTH - RIGHT;
        for series in panel.series.iter().rev() {
            let w = 30.0 + 7.0 * series.name.chars().count() as f64;
            lx -= w;
            let _ = writeln!(
                s,
                r#"<line x1="{lx:.1}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{}" stroke-width="2"{}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                lx + 20.0,
                top - 12.0,
                top - 12.0,
                series.color,
                if series.dashed {
                    r#" stroke-dasharray="5,3""#
                } else {
                    ""
                },
                lx + 24.0,
                top - 8.0,
                escape(&series.name)
            );
        }
        for series in &panel.series {
            for seg in &series.segments {
                if seg.is_empty() {
                    continue;
                }
                let pts: Vec<String> = seg
                    .iter()
                    .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                    .collect();
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"{}/>"#,
                    pts.join(" "),
                    series.color,
                    if series.dashed {
                        r#" stroke-dasharray="5,3""#
                    } else {
                        ""
                    }
                );
            }
        }
    }
    // The shared x axis, under the last panel.
    let bottom = TOP + panels.len() as f64 * (PANEL_H + PANEL_GAP) - PANEL_GAP;
    let (step, _) = nice_axis(x_max - x_min);
    let mut x = (x_min / step).ceil() * step;
    while x <= x_max {
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{bottom:.1}" y2="{:.1}" stroke="black"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            sx(x),
            sx(x),
            bottom + 5.0,
            sx(x),
            bottom + 18.0,
            short(x)
        );
        x += step;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        bottom + 38.0,
        escape(x_label)
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(47_000.0), (10_000.0, 50_000.0));
        assert_eq!(nice_axis(1.0), (0.2, 1.0));
        assert_eq!(nice_axis(0.0), (0.2, 1.0));
        assert_eq!(nice_axis(130.0), (50.0, 150.0));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short(50_000.0), "50k");
        assert_eq!(short(1_500_000.0), "1.5M");
        assert_eq!(short(20.0), "20");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(2.5), "2.5");
    }

    #[test]
    fn a_chart_has_its_parts() {
        let svg = chart(
            "t <1>",
            "seconds",
            &[Panel {
                title: "events/s".into(),
                series: vec![Series {
                    name: "out".into(),
                    color: "blue",
                    dashed: false,
                    segments: vec![vec![(0.0, 1.0), (1.0, 2.0)], vec![(3.0, 2.0), (4.0, 0.0)]],
                }],
            }],
            &[Band {
                x0: 0.0,
                x1: 2.0,
                label: "1k/s".into(),
            }],
        );
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("t &lt;1&gt;") && svg.contains(">1k/s<"));
    }
}
