//! Server-rendered SVG bar charts (no script, no charting library; the CSP forbids inline
//! styles, so colours come from classes in `admin.css`). Bars may stack up to a few layers;
//! each bar carries a `<title>` for the browser's tooltip.

use chrono::{DateTime, TimeDelta, Utc};
use maud::{html, Markup};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// One stacked layer: a CSS class (`layer-1`, `layer-2`, `layer-err`) and a value per bucket.
pub struct Layer<'a> {
    pub label: &'a str,
    pub class: &'a str,
    pub values: Vec<f64>,
}

/// One bucket's bar: its x and its stacked rectangles (class, top, height).
type Bar<'a> = (f64, Vec<(&'a str, f64, f64)>);

pub struct BarChart<'a> {
    /// The element id (tests and links find charts by it).
    pub id: &'a str,
    pub title: &'a str,
    /// The first instant of each bucket, oldest first.
    pub buckets: Vec<DateTime<Utc>>,
    pub layers: Vec<Layer<'a>>,
    /// Formats axis labels and tooltips.
    pub format: fn(f64) -> String,
    /// `%m-%d` for days, `%d %H:00` for hours.
    pub label_format: &'a str,
}

/// The bucket starts from `from` to `to` (exclusive), `step` apart: the x axis, gaps included.
pub fn buckets(from: DateTime<Utc>, to: DateTime<Utc>, step: TimeDelta) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to && out.len() < 2000 {
        out.push(at);
        at += step;
    }
    out
}

/// Values at the given buckets, 0 where `points` has none.
pub fn dense<T>(
    buckets: &[DateTime<Utc>],
    points: &[T],
    start: impl Fn(&T) -> DateTime<Utc>,
    value: impl Fn(&T) -> f64,
) -> Vec<f64> {
    buckets
        .iter()
        .map(|b| points.iter().filter(|p| start(p) == *b).map(&value).sum())
        .collect()
}

/// A round axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

pub fn render(chart: &BarChart<'_>) -> Markup {
    let n = chart.buckets.len().max(1);
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            chart
                .layers
                .iter()
                .map(|l| l.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let top = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / n as f64;
    let bar = (slot * 0.78).max(1.0);
    let y = |v: f64| TOP + plot_h - (v / top) * plot_h;
    let label_at = |i: usize| -> String {
        chart
            .buckets
            .get(i)
            .map(|b| b.format(chart.label_format).to_string())
            .unwrap_or_default()
    };
    let ticks = [0.0, top / 2.0, top];
    let x_labels: Vec<usize> = if n <= 1 {
        vec![0]
    } else {
        vec![0, n / 2, n - 1]
    };
    let fmt = chart.format;
    let total_all: f64 = totals.iter().sum();
    let bars: Vec<Bar<'_>> = (0..chart.buckets.len())
        .map(|i| {
            let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
            let mut base = 0.0;
            let mut rects = Vec::new();
            for layer in &chart.layers {
                let v = layer.values.get(i).copied().unwrap_or(0.0);
                if v > 0.0 {
                    rects.push((layer.class, y(base + v), (y(base) - y(base + v)).max(0.5)));
                }
                base += v;
            }
            (x, rects)
        })
        .collect();
    html! {
        figure class="chart" id=(chart.id) {
            figcaption {
                span class="chart-title" { (chart.title) }
                span class="chart-total" { (fmt(total_all)) " in all" }
                @if chart.layers.len() > 1 {
                    span class="legend" {
                        @for layer in &chart.layers {
                            span class={ "key " (layer.class) } { (layer.label) }
                        }
                    }
                }
            }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                role="img" aria-label={ (chart.title) ", " (fmt(total_all)) " in all" } {
                @for t in ticks {
                    line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(t)) y2=(y(t)) {}
                    text class="axis" x=(LEFT - 6.0) y=(y(t) + 4.0) text-anchor="end" { (fmt(t)) }
                }
                @for (i, (x, rects)) in bars.iter().enumerate() {
                    g class="bar" {
                        title {
                            (label_at(i)) ": " (fmt(totals[i]))
                            @if chart.layers.len() > 1 {
                                @for layer in &chart.layers {
                                    " · " (layer.label) " " (fmt(layer.values.get(i).copied().unwrap_or(0.0)))
                                }
                            }
                        }
                        @for (class, top_y, height) in rects {
                            rect class=(class) x=(format!("{x:.2}")) width=(format!("{bar:.2}"))
                                y=(format!("{top_y:.2}")) height=(format!("{height:.2}")) {}
                        }
                    }
                }
                @for i in x_labels {
                    @let anchor = if i == 0 { "start" } else if i + 1 == n { "end" } else { "middle" };
                    @let x = if i == 0 { LEFT } else if i + 1 == n { WIDTH - RIGHT } else { LEFT + slot * (i as f64 + 0.5) };
                    text class="axis" x=(x) y=(HEIGHT - 6.0) text-anchor=(anchor) { (label_at(i)) }
                }
            }
        }
    }
}

/// `1234` as `1.2k`, `3400000` as `3.4M`.
pub fn compact(v: f64) -> String {
    let abs = v.abs();
    if abs >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if abs >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if abs >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if abs >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if abs == abs.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// US dollars: cents from one dollar up, more digits below a cent.
pub fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".to_owned()
    } else if v.abs() >= 1000.0 {
        format!("${}", crate::ui::views::number(v.round() as u64))
    } else if v.abs() >= 0.01 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeZone;

    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(480.0), 500.0);
        assert_eq!(nice_max(0.003), 0.005);
    }

    #[test]
    fn formats() {
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(1250.0), "1.2k");
        assert_eq!(compact(25_000.0), "25k");
        assert_eq!(compact(3_400_000.0), "3.4M");
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(usd(0.00042), "$0.0004");
        assert_eq!(usd(1234.5), "$1,235");
    }

    #[test]
    fn bars_fill_the_gaps_and_stack() {
        let day = |d| Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).unwrap();
        let xs = buckets(day(1), day(4), TimeDelta::days(1));
        assert_eq!(xs, [day(1), day(2), day(3)]);
        let points = [(day(1), 2.0), (day(3), 5.0)];
        let values = dense(&xs, &points, |p| p.0, |p| p.1);
        assert_eq!(values, [2.0, 0.0, 5.0]);
        let chart = BarChart {
            id: "requests-chart",
            title: "Requests",
            buckets: xs,
            layers: vec![
                Layer {
                    label: "ok",
                    class: "layer-1",
                    values,
                },
                Layer {
                    label: "errors",
                    class: "layer-err",
                    values: vec![1.0, 0.0, 0.0],
                },
            ],
            format: compact,
            label_format: "%m-%d",
        };
        let svg = render(&chart).into_string();
        assert!(svg.contains(r#"id="requests-chart""#));
        assert_eq!(svg.matches("<rect").count(), 3, "empty buckets draw no bar");
        assert!(svg.contains("11-01: 3"), "{svg}");
        assert!(svg.contains("8 in all"));
        assert!(!svg.contains("style="), "the CSP allows no inline styles");
    }
}
