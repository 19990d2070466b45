//! The pictures, as SVG documents drawn by plotters' SVG backend. Text stays SVG `<text>`
//! (the browser lays it out with its own fonts): plotters without a font feature only
//! estimates label widths, which is all the axis layout needs.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::wire::time::civil_from_days;

pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 380;

/// Colours for series, told apart on white and by people with the common colour-vision
/// deficiencies (Okabe–Ito).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// How the x axis of a time plot is labelled.
#[derive(Clone, Copy)]
pub enum XAxis {
    /// Unix time, labelled in UTC.
    Utc,
    /// Seconds since the start of each run.
    Elapsed,
}

/// A unit for values given in seconds (or PPM): the scale to multiply by and its name,
/// chosen so that the bulk of the values reads as a number between 1 and 1000.
pub fn time_unit(values: impl Iterator<Item = f64>) -> (f64, &'static str) {
    let m = values
        .filter(|v| v.is_finite())
        .map(f64::abs)
        .fold(0.0, f64::max);
    if m >= 1.0 {
        (1.0, "s")
    } else if m >= 1e-3 {
        (1e3, "ms")
    } else if m >= 1e-6 {
        (1e6, "µs")
    } else {
        (1e9, "ns")
    }
}

fn utc_label(t: f64, span: f64) -> String {
    let secs = t.floor() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (h, mi, sec) = (s / 3600, s / 60 % 60, s % 60);
    if span <= 600.0 {
        format!("{h:02}:{mi:02}:{sec:02}")
    } else if span <= 2.0 * 86_400.0 {
        format!("{h:02}:{mi:02}")
    } else if span <= 300.0 * 86_400.0 {
        format!("{mo:02}-{d:02} {h:02}:{mi:02}")
    } else {
        format!("{y}-{mo:02}-{d:02}")
    }
}

fn elapsed_label(t: f64) -> String {
    if t.abs() >= 7200.0 {
        format!("{:.1} h", t / 3600.0)
    } else {
        format!("{t:.0} s")
    }
}

/// The (min, max) of finite values, widened a little and never empty.
fn range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let w = hi - lo;
    if w <= 0.0 {
        // a constant series: centre it in a range it can be read in
        let half = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - half, hi + half);
    }
    (lo - w * pad, hi + w * pad)
}

/// Axis labels with as many decimals as ticks about (lo, hi) / 8 apart need, and no "-0".
fn number_label(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let step = (hi - lo) / 8.0;
    let decimals = if step > 0.0 {
        (-step.log10().floor()).clamp(0.0, 9.0) as usize
    } else {
        0
    };
    move |v: &f64| {
        let r = format!("{:.*}", decimals, v);
        if r.trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            "0".into()
        } else {
            r
        }
    }
}

/// Why a chart was not drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlotError {
    /// The SVG backend failed (its message, which is generic over the backend).
    #[error("drawing: {0}")]
    Drawing(String),
    #[error("no positive points to draw")]
    NoPositivePoints,
    /// The input has too little to draw this chart (the text says what is missing).
    #[error("{0}")]
    NotEnoughData(&'static str),
}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Drawing(e.to_string())
}

/// Draw with `f` on a fresh white SVG canvas and return the document.
fn svg(
    f: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        f(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Lines over time; `y_desc` names the quantity and its unit.
pub fn time_series(
    title: &str,
    y_desc: &str,
    x: XAxis,
    series: &[Series],
) -> Result<String, PlotError> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = range(all().map(|p| p.0), 0.0);
    let (y0, y1) = range(all().map(|p| p.1), 0.05);
    let span = x1 - x0;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let fmt_x = move |v: &f64| match x {
            XAxis::Utc => utc_label(*v, span),
            XAxis::Elapsed => elapsed_label(*v),
        };
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&fmt_x)
            .y_label_formatter(&number_label(y0, y1))
            .x_desc(match x {
                XAxis::Utc => "UTC",
                XAxis::Elapsed => "time since the run's first record",
            })
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(1)))
                .map_err(err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            // the samples themselves, small, so sparse series still show where they are
            if s.points.len() <= 400 {
                chart
                    .draw_series(s.points.iter().map(|p| Circle::new(*p, 2, c.filled())))
                    .map_err(err)?;
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }
        Ok(())
    })
}

/// A histogram of `values` (already in the unit `x_desc` names), `bins` equal bins.
pub fn histogram(
    title: &str,
    x_desc: &str,
    values: &[f64],
    bins: usize,
) -> Result<String, PlotError> {
    let v: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let (lo, hi) = range(v.iter().copied(), 0.0);
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0u64; bins];
    for x in &v {
        let i = (((x - lo) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.05;
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(lo..hi, 0.0..top)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("samples")
            .x_label_formatter(&number_label(lo, hi))
            // counts: whole numbers only
            .y_label_formatter(&|v| {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, c)| {
                let x = lo + i as f64 * width;
                Rectangle::new(
                    [(x, 0.0), (x + width, *c as f64)],
                    colour(0).mix(0.8).filled(),
                )
            }))
            .map_err(err)?;
        Ok(())
    })
}

/// Deviations over averaging time, both axes logarithmic.
pub fn log_log(title: &str, y_desc: &str, series: &[Series]) -> Result<String, PlotError> {
    let all = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0 > 0.0 && p.1 > 0.0)
    };
    let (x0, x1) = all().fold((f64::INFINITY, 0.0f64), |(l, h), p| {
        (l.min(p.0), h.max(p.0))
    });
    let (y0, y1) = all().fold((f64::INFINITY, 0.0f64), |(l, h), p| {
        (l.min(p.1), h.max(p.1))
    });
    if !x0.is_finite() || !y0.is_finite() {
        return Err(PlotError::NoPositivePoints);
    }
    // whole decades, so the log axis has labels
    let dec = |v: f64, up: bool| {
        let e = v.log10();
        10f64.powf(if up { e.ceil() } else { e.floor() })
    };
    let (x0, x1, y0, y1) = (
        dec(x0, false),
        dec(x1 * 1.0001, true),
        dec(y0, false),
        dec(y1 * 1.0001, true),
    );
    svg(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .margin_right(36)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("averaging time τ (s)")
            .y_desc(y_desc)
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .light_line_style(RGBColor(235, 235, 235))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0 > 0.0 && p.1 > 0.0)
                .collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                .map_err(err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_svg_text_without_a_font_feature() {
        let s = Series {
            name: "198.18.0.1".into(),
            points: vec![
                (1_795_568_400.0, 1e-5),
                (1_795_568_464.0, -2e-5),
                (1_795_568_528.0, 0.0),
            ],
        };
        let doc = time_series("Local clock time offset", "offset (µs)", XAxis::Utc, &[s]).unwrap();
        assert!(doc.starts_with("<svg"), "{}", &doc[..80]);
        // every label is an SVG <text> element, laid out by the browser
        let texts: Vec<&str> = doc
            .split("<text")
            .skip(1)
            .map(|t| &t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()])
            .map(str::trim)
            .collect();
        assert!(texts.contains(&"Local clock time offset"), "{texts:?}");
        assert!(
            texts.contains(&"01:00:00") || texts.contains(&"01:00"),
            "UTC labels: {texts:?}"
        );
        let h = histogram("h", "µs", &[1.0, 2.0, 2.5, 3.0], 10).unwrap();
        assert!(h.contains("<rect"));
        let ll = log_log(
            "ADEV",
            "σy(τ)",
            &[Series {
                name: "local".into(),
                points: vec![(8.0, 1e-6), (16.0, 5e-7)],
            }],
        )
        .unwrap();
        assert!(ll.contains("local\n</text>") || ll.contains(">local</text>"));
        assert!(log_log("ADEV", "σ", &[]).is_err());
    }

    #[test]
    fn axis_numbers_have_the_decimals_their_spacing_needs() {
        let f = number_label(-0.5, 0.5);
        assert_eq!((f(&0.2), f(&-0.0001)), ("0.2".to_string(), "0".to_string()));
        assert_eq!(number_label(19.0, 20.0)(&19.5), "19.5");
        assert_eq!(number_label(0.0, 800.0)(&400.0), "400");
        // a constant series gets a readable range around it
        assert_eq!(range([0.0, 0.0].into_iter(), 0.05), (-1.0, 1.0));
        assert_eq!(range([20.0].into_iter(), 0.05), (18.0, 22.0));
    }

    #[test]
    fn units_follow_the_magnitude() {
        assert_eq!(time_unit([2e-5, -3e-4].into_iter()), (1e6, "µs"));
        assert_eq!(time_unit([0.02].into_iter()), (1e3, "ms"));
        assert_eq!(time_unit([f64::NAN, 1e-8].into_iter()), (1e9, "ns"));
    }
}
