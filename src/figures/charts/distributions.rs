//! Distributions of scores: kernel densities, the latent PCA scatter, sorted
//! errors against a threshold.

use std::path::Path;

use plotters::chart::SeriesLabelPosition;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::figures::charts::{
    ANOMALY, LineStyle, NORMAL, PALETTE, Series, box_key, dash_key, dashed, draw_legend,
    draw_lines, floor_at_zero, frame, polyline, quiet_corner, styled, tick, whole, with_note,
};
use crate::figures::{
    Chart, DrawResult, Figure, check_finite, check_same_len, check_unit, extent, padded,
    save_chart, short,
};

struct DensityChart<'a> {
    title: &'a str,
    x_label: &'a str,
    series: &'a [Series],
    markers: &'a [(String, f64)],
    note: &'a str,
}

impl Chart for DensityChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let area = with_note(root, self.note)?;
        let xs = self.series.iter().flat_map(|s| s.xs.iter().copied());
        let x = padded(extent(xs.chain(self.markers.iter().map(|m| m.1))), 0.02);
        // The baseline 0 is always shown: densities rise from it.
        let ys = extent(self.series.iter().flat_map(|s| s.ys.iter().copied()));
        let y = padded(ys.start.min(0.0)..ys.end.max(0.0), 0.06);
        let y = floor_at_zero(y, ys.start);
        let mut chart = frame(&area, self.title, x.clone(), y.clone())?;
        styled(&mut chart.configure_mesh(), self.x_label, "density")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()?;

        let styles: Vec<LineStyle> = (0..self.series.len()).map(LineStyle::nth).collect();
        let mut points = draw_lines(&mut chart, self.series, &styles)?;
        // Markers take the colours after the series', so none is repeated
        // until the palette runs out.
        for (j, (label, at)) in self.markers.iter().enumerate() {
            let color = PALETTE[(self.series.len() + j) % PALETTE.len()];
            chart
                .draw_series(dashed([(*at, y.start), (*at, y.end)], color))?
                .label(format!("{label} = {}", short(*at)))
                .legend(dash_key(color));
            points.extend(polyline(&[*at, *at], &[y.start, y.end]));
        }
        let entries = self.series.len() + self.markers.len();
        draw_legend(&mut chart, quiet_corner(&points, &x, &y, entries))
    }
}

/// Density curves: each [`Series`] as a line (distinct colours), a dashed
/// vertical line at each `(label, x)` of `markers` (e.g. ("p80", 0.012)),
/// labelled in the legend with its value, and `note` (e.g. "Gaussian KDE,
/// Scott's rule: h = 0.0012 (all), 0.0030 (background)") written under the
/// plot. The y axis is labelled "density".
pub fn density_plot(
    title: &str,
    x_label: &str,
    series: &[Series],
    markers: &[(String, f64)],
    note: &str,
    out_stem: &Path,
) -> Result<Figure> {
    if series.is_empty() {
        return Err(Error::InvalidParameter("no series to plot".to_owned()));
    }
    for s in series {
        check_finite(&format!("{} xs", s.label), &s.xs)?;
        check_finite(&format!("{} ys", s.label), &s.ys)?;
        check_same_len(
            &format!("{} xs", s.label),
            s.xs.len(),
            &format!("{} ys", s.label),
            s.ys.len(),
        )?;
    }
    for (label, at) in markers {
        if !at.is_finite() {
            return Err(Error::InvalidParameter(format!(
                "marker {label} is at {at}, not a finite number"
            )));
        }
    }
    let chart = DensityChart {
        title,
        x_label,
        series,
        markers,
        note,
    };
    save_chart(&chart, title, out_stem)
}

struct PcaChart<'a> {
    title: &'a str,
    points: &'a [[f64; 2]],
    is_anomaly: &'a [bool],
    flagged: &'a [bool],
    explained: [f64; 2],
    note: &'a str,
}

impl Chart for PcaChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let area = with_note(root, self.note)?;
        let x = padded(extent(self.points.iter().map(|p| p[0])), 0.05);
        let y = padded(extent(self.points.iter().map(|p| p[1])), 0.05);
        let mut chart = frame(&area, self.title, x.clone(), y.clone())?;
        let desc = |i: usize| {
            format!(
                "PC{} ({:.1} % of variance)",
                i + 1,
                100.0 * self.explained[i]
            )
        };
        styled(&mut chart.configure_mesh(), &desc(0), &desc(1))
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()?;

        // Normals first, so that the few anomalies are drawn on top.
        let n_anomalies = self.is_anomaly.iter().filter(|&&a| a).count();
        for (anomaly, name, color, count) in [
            (false, "normal", NORMAL, self.points.len() - n_anomalies),
            (true, "anomaly", ANOMALY, n_anomalies),
        ] {
            let members = self
                .points
                .iter()
                .zip(self.is_anomaly)
                .filter(move |&(_, &a)| a == anomaly);
            chart
                .draw_series(
                    members.map(|(p, _)| Circle::new((p[0], p[1]), 4, color.mix(0.75).filled())),
                )?
                .label(format!("{name} ({count})"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        let flagged: Vec<_> = self
            .points
            .iter()
            .zip(self.flagged)
            .filter(|&(_, &f)| f)
            .map(|(p, _)| (p[0], p[1]))
            .collect();
        chart
            .draw_series(
                flagged
                    .iter()
                    .map(|&p| Circle::new(p, 7, BLACK.stroke_width(1))),
            )?
            .label(format!("predicted anomaly ({})", flagged.len()))
            .legend(|(x, y)| Circle::new((x + 10, y), 7, BLACK.stroke_width(1)));

        let points: Vec<_> = self.points.iter().map(|p| (p[0], p[1])).collect();
        draw_legend(&mut chart, quiet_corner(&points, &x, &y, 3))
    }
}

/// PCA scatter: points coloured normal (blue) vs anomaly (red), predicted
/// anomalies (`flagged[i]`) ringed in black; axis labels "PC1 (xx.x % of
/// variance)" from `explained`, the fraction (0..=1) of variance each
/// component explains; `note` says what was projected (e.g. "encoder latent
/// codes, 256-d, 483 test images") and is written under the plot.
pub fn pca_scatter(
    title: &str,
    points: &[[f64; 2]],
    is_anomaly: &[bool],
    flagged: &[bool],
    explained: [f64; 2],
    note: &str,
    out_stem: &Path,
) -> Result<Figure> {
    let flat: Vec<f64> = points.iter().flatten().copied().collect();
    check_finite("points", &flat)?;
    check_same_len("points", points.len(), "is_anomaly", is_anomaly.len())?;
    check_same_len("points", points.len(), "flagged", flagged.len())?;
    check_unit("explained", &explained)?;
    let chart = PcaChart {
        title,
        points,
        is_anomaly,
        flagged,
        explained,
        note,
    };
    save_chart(&chart, title, out_stem)
}

struct SortedErrorsChart<'a> {
    title: &'a str,
    /// (error, is anomaly), ascending by error.
    sorted: Vec<(f64, bool)>,
    threshold: f64,
    threshold_label: &'a str,
}

impl Chart for SortedErrorsChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.sorted.len() as f64;
        let values = extent(self.sorted.iter().map(|s| s.0).chain([self.threshold]));
        let y = padded(values.start.min(0.0)..values.end, 0.05);
        let y = floor_at_zero(y, values.start);
        let mut chart = frame(root, self.title, 0.0..n, y.clone())?;
        styled(
            &mut chart.configure_mesh(),
            "images, by ascending reconstruction error",
            "reconstruction error",
        )
        .x_labels((self.sorted.len() + 1).min(10))
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .draw()?;

        // Bar i spans i..i+1; bars rise from 0 (or fall to a negative error).
        let base = 0.0_f64.clamp(y.start, y.end);
        for (anomaly, name, color) in [(false, "normal", NORMAL), (true, "anomaly", ANOMALY)] {
            let bars = self
                .sorted
                .iter()
                .enumerate()
                .filter(|(_, s)| s.1 == anomaly);
            let count = bars.clone().count();
            chart
                .draw_series(bars.map(|(i, &(e, _))| {
                    Rectangle::new([(i as f64, base), (i as f64 + 1.0, e)], color.filled())
                }))?
                .label(format!("{name} ({count})"))
                .legend(box_key(color));
        }
        chart
            .draw_series(dashed([(0.0, self.threshold), (n, self.threshold)], BLACK))?
            .label(self.threshold_label)
            .legend(dash_key(BLACK));
        // Sorted ascending: the upper left is where the bars are lowest.
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    }
}

/// The errors sorted ascending, as bars (rank on x), anomalies in red and
/// normals in blue, with a dashed horizontal line at `threshold` labelled
/// `threshold_label` (e.g. "p80 threshold 0.0123") in the legend.
pub fn sorted_errors(
    title: &str,
    errors: &[f64],
    is_anomaly: &[bool],
    threshold: f64,
    threshold_label: &str,
    out_stem: &Path,
) -> Result<Figure> {
    check_finite("errors", errors)?;
    check_same_len("errors", errors.len(), "is_anomaly", is_anomaly.len())?;
    check_finite("threshold", &[threshold])?;
    let mut sorted: Vec<(f64, bool)> = errors
        .iter()
        .copied()
        .zip(is_anomaly.iter().copied())
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let chart = SortedErrorsChart {
        title,
        sorted,
        threshold,
        threshold_label,
    };
    save_chart(&chart, title, out_stem)
}
