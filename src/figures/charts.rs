//! The study's charts: each public function checks its input, then hands a
//! [`Chart`] to [`save_chart`], which draws it as PNG and as SVG.

use std::ops::Range;
use std::path::Path;

use plotters::chart::{ChartContext, MeshStyle, SeriesLabelPosition};
use plotters::coord::Shift;
use plotters::coord::ranged1d::AsRangedCoord;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Chart, DrawResult, FONT, Figure, check_finite, check_same_len, check_unit, extent, fitted_size,
    padded, save_chart, short, truncated,
};
use crate::error::{Error, Result};

/// Normal samples (matplotlib's "tab:blue").
const NORMAL: RGBColor = RGBColor(31, 119, 180);
/// Anomalies (matplotlib's "tab:red").
const ANOMALY: RGBColor = RGBColor(214, 39, 40);
/// Reference lines (random classifier, thresholds, notes).
const GREY: RGBColor = RGBColor(110, 110, 110);
/// Colours for several series, matplotlib's "tab10" cycle.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A position in pixels (plotters' `BackendCoord`, which it does not re-export).
type BackendCoord = (i32, i32);

/// Dash and gap length of dashed lines, in pixels.
const DASH: (i32, i32) = (8, 5);

/// Space around a chart; more on the right, where the last x label overhangs.
const MARGIN: u32 = 16;
const MARGIN_RIGHT: u32 = 28;
/// Width of the y axis's tick labels and description.
const Y_LABEL_AREA: u32 = 76;

/// A cartesian chart with axes `X` and `Y`, as [`frame`] builds it.
type Frame<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

/// A cartesian chart on `area` with the title on top and room for axis labels.
fn frame<'a, DB: DrawingBackend, X: AsRangedCoord, Y: AsRangedCoord>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    x: X,
    y: Y,
) -> DrawResult<DB, Frame<'a, DB, X, Y>> {
    let size = fitted_size(area, title, 24.0, area.dim_in_pixel().0 - 40)?;
    ChartBuilder::on(area)
        .caption(title, (FONT, size))
        .margin(MARGIN)
        .margin_right(MARGIN_RIGHT)
        .x_label_area_size(52)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x, y)
}

/// The mesh style every chart shares: faint grid, readable labels.
fn styled<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
    x_desc: &str,
    y_desc: &str,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 14))
        .bold_line_style(BLACK.mix(0.08))
        .light_line_style(TRANSPARENT)
        .axis_style(BLACK.mix(0.7))
}

/// An axis tick label: the value without trailing zeros ("0.02", "60").
fn tick(v: &f64) -> String {
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_owned(),
        _ => text.to_owned(),
    }
}

/// A tick label on a count axis (epochs, ranks): whole values only, as the
/// tick algorithm may also pick halves.
fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// Draws the legend of the labelled series at `position`.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> DrawResult<DB> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(14)
        .legend_area_size(28)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.92))
        .border_style(BLACK.mix(0.5))
        .draw()
}

/// A legend sample for a solid line.
fn line_key(color: RGBColor) -> impl Fn(BackendCoord) -> PathElement<BackendCoord> {
    move |(x, y)| PathElement::new([(x, y), (x + 22, y)], color.stroke_width(3))
}

/// A legend sample for a dashed line.
fn dash_key(
    color: RGBColor,
) -> impl Fn(BackendCoord) -> DashedPathElement<std::array::IntoIter<BackendCoord, 2>, i32> {
    move |(x, y)| DashedPathElement::new([(x, y), (x + 22, y)], 6, 3, color.stroke_width(2))
}

/// A legend sample for a filled marker or bar.
fn box_key(color: RGBColor) -> impl Fn(BackendCoord) -> Rectangle<BackendCoord> {
    move |(x, y)| Rectangle::new([(x + 4, y - 6), (x + 16, y + 6)], color.filled())
}

/// A dashed line through `points`, in data coordinates.
fn dashed<I: IntoIterator<Item = (f64, f64)>>(
    points: I,
    color: RGBColor,
) -> DashedLineSeries<I::IntoIter, i32>
where
    I::IntoIter: Clone,
{
    DashedLineSeries::new(points, DASH.0, DASH.1, color.stroke_width(2))
}

/// Splits a band off the bottom of `root` and writes `note` in it, small and
/// grey, where it cannot hide data; returns the area above. An empty note
/// takes no room.
fn with_note<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    note: &str,
) -> DrawResult<DB, DrawingArea<DB, Shift>> {
    if note.is_empty() {
        return Ok(root.clone());
    }
    let (w, h) = root.dim_in_pixel();
    let (top, band) = root.split_vertically(h - 30);
    let size = fitted_size(&band, note, 14.0, w - 32)?;
    let style = TextStyle::from((FONT, size).into_font()).color(&GREY);
    band.draw(&Text::new(note.to_owned(), (16, 4), style))?;
    Ok(top)
}

/// Points along the polyline `xs`/`ys`, several per segment, so that
/// [`quiet_corner`] sees a sparse curve crossing a corner.
fn polyline(xs: &[f64], ys: &[f64]) -> Vec<(f64, f64)> {
    const STEPS: usize = 8;
    let mut points: Vec<(f64, f64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
    let segments: Vec<_> = points.windows(2).map(|w| (w[0], w[1])).collect();
    for ((x0, y0), (x1, y1)) in segments {
        points.extend((1..STEPS).map(|s| {
            let t = s as f64 / STEPS as f64;
            (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
        }));
    }
    points
}

/// The corner where a legend of `entries` lines covers the fewest `points`
/// (upper right on a tie), so that the legend hides as little data as it can.
fn quiet_corner(
    points: &[(f64, f64)],
    x: &Range<f64>,
    y: &Range<f64>,
    entries: usize,
) -> SeriesLabelPosition {
    // The legend's share of the plot area: about 45 % of the width, and 22 px
    // per line of the ~430 px plot height.
    let width = 0.45;
    let height = (0.06 + 0.052 * entries as f64).min(1.0);
    let covered = |left: bool, top: bool| {
        points
            .iter()
            .filter(|&&(px, py)| {
                let fx = (px - x.start) / (x.end - x.start);
                let fy = (py - y.start) / (y.end - y.start);
                let in_x = if left { fx <= width } else { fx >= 1.0 - width };
                let in_y = if top {
                    fy >= 1.0 - height
                } else {
                    fy <= height
                };
                in_x && in_y
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, false, true),
        (SeriesLabelPosition::LowerRight, false, false),
        (SeriesLabelPosition::UpperLeft, true, true),
        (SeriesLabelPosition::LowerLeft, true, false),
    ]
    .into_iter()
    .min_by_key(|&(_, left, top)| covered(left, top))
    .map_or(SeriesLabelPosition::UpperRight, |(position, ..)| position)
}

/// `range` with its start raised to 0 when the data are all non-negative
/// (`data_min >= 0`) but padding took it below: losses and errors start at 0.
fn floor_at_zero(range: Range<f64>, data_min: f64) -> Range<f64> {
    if data_min >= 0.0 && range.start < 0.0 {
        0.0..range.end
    } else {
        range
    }
}

/// Checks an optional confidence interval: finite, in 0..=1, low <= high.
fn check_ci(name: &str, ci: Option<(f64, f64)>) -> Result<()> {
    let Some((low, high)) = ci else {
        return Ok(());
    };
    check_unit(name, &[low, high])?;
    if low > high {
        return Err(Error::InvalidParameter(format!(
            "{name} ({low}, {high}) has low > high"
        )));
    }
    Ok(())
}

/// "AUROC 0.812 [0.751, 0.866]", or without the interval.
fn area_label(name: &str, value: f64, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((low, high)) => format!("{name} {value:.3} [{low:.3}, {high:.3}]"),
        None => format!("{name} {value:.3}"),
    }
}

struct LossChart<'a> {
    title: &'a str,
    epochs: Vec<f64>,
    train: &'a [f64],
    val: &'a [f64],
    best: (f64, f64),
}

impl Chart for LossChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let e = extent(self.epochs.iter().copied());
        let x = e.start - 0.5..e.end + 0.5;
        let losses = extent(self.train.iter().chain(self.val).copied());
        let y = floor_at_zero(padded(losses.clone(), 0.08), losses.start);
        let mut chart = frame(root, self.title, x.clone(), y.clone())?;
        // A tick per epoch up to 10, and only whole epochs labelled.
        let ticks = ((e.end - e.start) as usize + 1).min(10);
        styled(
            &mut chart.configure_mesh(),
            "epoch",
            "loss (mean squared error)",
        )
        .x_labels(ticks)
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .draw()?;

        for (name, losses, color) in [
            ("training loss", self.train, PALETTE[0]),
            ("validation loss", self.val, PALETTE[1]),
        ] {
            let points = self.epochs.iter().copied().zip(losses.iter().copied());
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(name)
                .legend(line_key(color));
            chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled())))?;
        }
        let (best_x, best_y) = self.best;
        chart
            .draw_series(dashed([(best_x, y.start), (best_x, y.end)], GREY))?
            .label(format!(
                "best epoch {best_x:.0} (validation {})",
                short(best_y)
            ))
            .legend(dash_key(GREY));
        chart.draw_series([Circle::new(self.best, 8, BLACK.stroke_width(2))])?;

        let mut points = polyline(&self.epochs, self.train);
        points.extend(polyline(&self.epochs, self.val));
        draw_legend(&mut chart, quiet_corner(&points, &x, &y, 3))
    }
}

/// Training and validation loss per epoch (two lines, legend), with the best
/// epoch marked by a dashed vertical line and a ring on its validation loss.
///
/// `best_epoch` must be one of `epochs`.
pub fn loss_curves(
    title: &str,
    epochs: &[usize],
    train_loss: &[f64],
    val_loss: &[f64],
    best_epoch: usize,
    out_stem: &Path,
) -> Result<Figure> {
    check_finite("train_loss", train_loss)?;
    check_finite("val_loss", val_loss)?;
    check_same_len("epochs", epochs.len(), "train_loss", train_loss.len())?;
    check_same_len("epochs", epochs.len(), "val_loss", val_loss.len())?;
    let best = epochs
        .iter()
        .position(|&e| e == best_epoch)
        .ok_or_else(|| {
            Error::InvalidParameter(format!("best_epoch {best_epoch} is not one of epochs"))
        })?;
    let chart = LossChart {
        title,
        epochs: epochs.iter().map(|&e| e as f64).collect(),
        train: train_loss,
        val: val_loss,
        best: (best_epoch as f64, val_loss[best]),
    };
    save_chart(&chart, title, out_stem)
}

/// A curve in the unit square with a dashed reference line: ROC and PR.
struct UnitCurve<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    xs: &'a [f64],
    ys: &'a [f64],
    label: String,
    reference: [(f64, f64); 2],
    reference_label: String,
}

impl Chart for UnitCurve<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        // A little beyond 0..1, so that a curve along an edge is not hidden
        // under the axis.
        let range = -0.01..1.01;
        let mut chart = frame(root, self.title, range.clone(), range.clone())?;
        styled(&mut chart.configure_mesh(), self.x_desc, self.y_desc)
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .draw()?;
        chart
            .draw_series(dashed(self.reference, GREY))?
            .label(self.reference_label.as_str())
            .legend(dash_key(GREY));
        let points = self.xs.iter().copied().zip(self.ys.iter().copied());
        chart
            .draw_series(LineSeries::new(points, NORMAL.stroke_width(3)))?
            .label(self.label.as_str())
            .legend(line_key(NORMAL));

        let mut points = polyline(self.xs, self.ys);
        let [(x0, y0), (x1, y1)] = self.reference;
        points.extend(polyline(&[x0, x1], &[y0, y1]));
        draw_legend(&mut chart, quiet_corner(&points, &range, &range, 2))
    }
}

/// ROC curve (FPR x, TPR y, both 0..1) with the diagonal of a random
/// classifier (dashed, grey) and "AUROC 0.xxx [0.xxx, 0.xxx]" in the legend.
///
/// Points are joined in the order given. All values, `auroc` and the
/// interval `ci` included, must lie in 0..=1.
pub fn roc_curve(
    title: &str,
    fpr: &[f64],
    tpr: &[f64],
    auroc: f64,
    ci: Option<(f64, f64)>,
    out_stem: &Path,
) -> Result<Figure> {
    check_unit("fpr", fpr)?;
    check_unit("tpr", tpr)?;
    check_same_len("fpr", fpr.len(), "tpr", tpr.len())?;
    check_unit("auroc", &[auroc])?;
    check_ci("ci", ci)?;
    let chart = UnitCurve {
        title,
        x_desc: "false positive rate",
        y_desc: "true positive rate (recall)",
        xs: fpr,
        ys: tpr,
        label: area_label("AUROC", auroc, ci),
        reference: [(0.0, 0.0), (1.0, 1.0)],
        reference_label: "random classifier".to_owned(),
    };
    save_chart(&chart, title, out_stem)
}

/// Several ROC curves in the unit square, for one legend.
struct RocCurves<'a> {
    title: &'a str,
    series: &'a [Series],
}

impl Chart for RocCurves<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let range = -0.01..1.01;
        let mut chart = frame(root, self.title, range.clone(), range.clone())?;
        styled(
            &mut chart.configure_mesh(),
            "false positive rate",
            "true positive rate (recall)",
        )
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
        chart
            .draw_series(dashed([(0.0, 0.0), (1.0, 1.0)], GREY))?
            .label("random classifier")
            .legend(dash_key(GREY));
        let mut points = polyline(&[0.0, 1.0], &[0.0, 1.0]);
        points.extend(draw_lines(&mut chart, self.series)?);
        let entries = self.series.len() + 1;
        draw_legend(&mut chart, quiet_corner(&points, &range, &range, entries))
    }
}

/// ROC curves of several scores on one chart (FPR x, TPR y, each
/// [`Series`] a curve with its legend entry, e.g. "kNN (AUROC 0.950)"),
/// with the diagonal of a random classifier.
pub fn roc_curves(title: &str, series: &[Series], out_stem: &Path) -> Result<Figure> {
    if series.is_empty() {
        return Err(Error::InvalidParameter("no curve to plot".to_owned()));
    }
    for s in series {
        check_unit(&format!("{} fpr", s.label), &s.xs)?;
        check_unit(&format!("{} tpr", s.label), &s.ys)?;
        check_same_len("fpr", s.xs.len(), "tpr", s.ys.len())?;
    }
    save_chart(&RocCurves { title, series }, title, out_stem)
}

/// Precision-recall curve (recall x, precision y) with AUPRC (and the
/// optional interval `ci`) in the legend and a dashed horizontal line at
/// `prevalence`, the precision of a random classifier.
///
/// Points are joined in the order given. All values must lie in 0..=1.
pub fn pr_curve(
    title: &str,
    recall: &[f64],
    precision: &[f64],
    auprc: f64,
    ci: Option<(f64, f64)>,
    prevalence: f64,
    out_stem: &Path,
) -> Result<Figure> {
    check_unit("recall", recall)?;
    check_unit("precision", precision)?;
    check_same_len("recall", recall.len(), "precision", precision.len())?;
    check_unit("auprc", &[auprc])?;
    check_ci("ci", ci)?;
    check_unit("prevalence", &[prevalence])?;
    let chart = UnitCurve {
        title,
        x_desc: "recall (true positive rate)",
        y_desc: "precision",
        xs: recall,
        ys: precision,
        label: area_label("AUPRC", auprc, ci),
        reference: [(0.0, prevalence), (1.0, prevalence)],
        reference_label: format!("random classifier (prevalence {})", short(prevalence)),
    };
    save_chart(&chart, title, out_stem)
}

struct ConfusionChart<'a> {
    title: &'a str,
    subtitle: &'a str,
    /// Rows: actual anomaly, actual normal; columns: predicted anomaly,
    /// predicted normal.
    counts: [[usize; 2]; 2],
}

/// The colour of a cell or colour-bar step at `t` in 0..=1: white to the
/// dark end of matplotlib's "Blues".
fn blues(t: f64) -> RGBColor {
    let (light, dark) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let mix = |a: f64, b: f64| (a + t.clamp(0.0, 1.0) * (b - a)).round() as u8;
    RGBColor(
        mix(light.0, dark.0),
        mix(light.1, dark.1),
        mix(light.2, dark.2),
    )
}

// Fixed layout: 2×2 cells of CELL px from (LEFT, TOP), row labels to
// their left, column labels below, colour bar to the right. LEFT centres the
// whole, row labels to colour-bar labels.
const LEFT: i32 = 220;
const TOP: i32 = 92;
const CELL: i32 = 200;

fn centred(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Top))
}

fn label_style(size: f64, h: HPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(h, VPos::Center))
}

impl Chart for ConfusionChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (w, _) = root.dim_in_pixel();
        let title_size = fitted_size(root, self.title, 24.0, w - 40)?;
        root.draw(&Text::new(
            self.title.to_owned(),
            (w as i32 / 2, 14),
            centred(title_size),
        ))?;
        let subtitle_size = fitted_size(root, self.subtitle, 16.0, w - 40)?;
        root.draw(&Text::new(
            self.subtitle.to_owned(),
            (w as i32 / 2, 50),
            centred(subtitle_size).color(&GREY),
        ))?;
        let max = self
            .counts
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        self.draw_cells(root, max)?;
        self.draw_labels(root)?;
        draw_colour_bar(root, max)
    }
}

impl ConfusionChart<'_> {
    /// The four cells: name, count and share of the row, shaded by count.
    fn draw_cells<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        max: f64,
    ) -> DrawResult<DB> {
        let names = [["TP", "FN"], ["FP", "TN"]];
        let row_names = ["anomalies", "normals"];
        for (r, row) in self.counts.iter().enumerate() {
            let row_total: usize = row.iter().sum();
            for (c, &count) in row.iter().enumerate() {
                let (x0, y0) = (LEFT + c as i32 * CELL, TOP + r as i32 * CELL);
                let t = count as f64 / max;
                let cell = [(x0, y0), (x0 + CELL, y0 + CELL)];
                root.draw(&Rectangle::new(cell, blues(t).filled()))?;
                root.draw(&Rectangle::new(cell, BLACK.mix(0.6)))?;
                // White text on the dark half of the scale.
                let ink = if t > 0.5 { WHITE } else { BLACK };
                let share = if row_total == 0 {
                    format!("no {}", row_names[r])
                } else {
                    let pct = 100.0 * count as f64 / row_total as f64;
                    format!("{pct:.1} % of {}", row_names[r])
                };
                let cx = x0 + CELL / 2;
                for (text, dy, size) in [
                    (names[r][c].to_owned(), 36, 22.0),
                    (count.to_string(), 76, 40.0),
                    (share, 142, 15.0),
                ] {
                    root.draw(&Text::new(text, (cx, y0 + dy), centred(size).color(&ink)))?;
                }
            }
        }
        Ok(())
    }

    /// Row and column labels, and the sample count.
    fn draw_labels<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        for (r, text) in ["actual anomaly", "actual normal"].into_iter().enumerate() {
            let y = TOP + r as i32 * CELL + CELL / 2;
            root.draw(&Text::new(
                text,
                (LEFT - 12, y),
                label_style(17.0, HPos::Right),
            ))?;
        }
        for (c, text) in ["predicted anomaly", "predicted normal"]
            .into_iter()
            .enumerate()
        {
            let x = LEFT + c as i32 * CELL + CELL / 2;
            root.draw(&Text::new(text, (x, TOP + 2 * CELL + 10), centred(17.0)))?;
        }
        let total: usize = self.counts.iter().flatten().sum();
        root.draw(&Text::new(
            format!("{total} samples"),
            (LEFT - 12, TOP + 2 * CELL + 10),
            TextStyle::from((FONT, 14).into_font())
                .color(&GREY)
                .pos(Pos::new(HPos::Right, VPos::Top)),
        ))
    }
}

/// The colour bar right of the cells: count 0 at the bottom, `max` at the
/// top, with whole-count ticks.
fn draw_colour_bar<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, max: f64) -> DrawResult<DB> {
    let (bar_x, bar_w, bar_h) = (LEFT + 2 * CELL + 36, 22, 2 * CELL);
    // Bands of 4 px: smooth to the eye, and 100 rather than 400 SVG rects.
    const BAND: i32 = 4;
    for top in (0..bar_h).step_by(BAND as usize) {
        let t = 1.0 - f64::from(top + BAND / 2) / f64::from(bar_h);
        root.draw(&Rectangle::new(
            [(bar_x, TOP + top), (bar_x + bar_w, TOP + top + BAND)],
            blues(t).filled(),
        ))?;
    }
    root.draw(&Rectangle::new(
        [(bar_x, TOP), (bar_x + bar_w, TOP + bar_h)],
        BLACK.mix(0.6),
    ))?;
    // About four ticks, at 1, 2 or 5 times a power of 10.
    let raw = max / 4.0;
    let power = 10_f64.powf(raw.log10().floor()).max(1.0);
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(power);
    let mut value = 0.0;
    while value <= max {
        let y = TOP + bar_h - (f64::from(bar_h) * value / max).round() as i32;
        root.draw(&PathElement::new(
            [(bar_x + bar_w, y), (bar_x + bar_w + 5, y)],
            BLACK,
        ))?;
        root.draw(&Text::new(
            format!("{value:.0}"),
            (bar_x + bar_w + 9, y),
            label_style(14.0, HPos::Left),
        ))?;
        value += step;
    }
    root.draw(&Text::new(
        "count",
        (bar_x + bar_w / 2, TOP - 8),
        TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom)),
    ))
}

/// 2×2 confusion-matrix heat map (rows: actual anomaly / actual normal;
/// columns: predicted anomaly / predicted normal) with the labels TP, FN, FP,
/// TN, the counts and each count's share of its row in the cells, a colour
/// scale by count, and `subtitle` (e.g. "threshold p80 = 0.0123 · precision
/// 0.41 · recall 0.63 · F1 0.50 · FPR 0.12") drawn under the title.
///
/// At least one count must be non-zero.
pub fn confusion_matrix(
    title: &str,
    tp: usize,
    fn_: usize,
    fp: usize,
    tn: usize,
    subtitle: &str,
    out_stem: &Path,
) -> Result<Figure> {
    if tp + fn_ + fp + tn == 0 {
        return Err(Error::InvalidParameter(
            "confusion matrix has no samples".to_owned(),
        ));
    }
    let chart = ConfusionChart {
        title,
        subtitle,
        counts: [[tp, fn_], [fp, tn]],
    };
    save_chart(&chart, title, out_stem)
}

/// Each series as a line in the palette's colours, with its legend entry;
/// returns the points the lines cover (for [`quiet_corner`]).
fn draw_lines<DB: DrawingBackend>(
    chart: &mut Frame<'_, DB, Range<f64>, Range<f64>>,
    series: &[Series],
) -> DrawResult<DB, Vec<(f64, f64)>> {
    let mut points = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let line = s.xs.iter().copied().zip(s.ys.iter().copied());
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(s.label.as_str())
            .legend(line_key(color));
        points.extend(polyline(&s.xs, &s.ys));
    }
    Ok(points)
}

/// A labelled curve, for [`density_plot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub label: String,
    /// X values, as many as `ys`.
    pub xs: Vec<f64>,
    /// Y values.
    pub ys: Vec<f64>,
}

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

        let mut points = draw_lines(&mut chart, self.series)?;
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

/// A labelled bar, for [`bar_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The label under the bar.
    pub label: String,
    /// The bar's height.
    pub value: f64,
    /// An optional error whisker, `(low, high)`.
    pub whisker: Option<(f64, f64)>,
}

struct BarChart<'a> {
    title: &'a str,
    y_label: &'a str,
    bars: &'a [Bar],
}

impl BarChart<'_> {
    /// The value axis: from 0 (or below the lowest bar) to beyond the
    /// highest bar or whisker, with room for the printed values.
    fn value_range(&self) -> Range<f64> {
        let ends = self.bars.iter().flat_map(|b| {
            let (low, high) = b.whisker.unwrap_or((b.value, b.value));
            [b.value, low, high]
        });
        let data = extent(ends.chain([0.0]));
        let room = 0.12 * (data.end - data.start);
        if room > 0.0 {
            let bottom = if data.start < 0.0 {
                data.start - room
            } else {
                0.0
            };
            bottom..data.end + room
        } else {
            // Every bar is 0.
            0.0..1.0
        }
    }
}

impl Chart for BarChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.bars.len();
        let y = self.value_range();

        // Labels share the width of a slot; too long ones shrink, then are cut.
        let plot_width = root.dim_in_pixel().0 - MARGIN - MARGIN_RIGHT - Y_LABEL_AREA;
        let slot = plot_width / n as u32;
        let widest = self
            .bars
            .iter()
            .max_by_key(|b| b.label.chars().count())
            .map_or("", |b| b.label.as_str());
        let label_size = fitted_size(root, widest, 15.0, slot.saturating_sub(6))?.max(11.0);
        let label_style = TextStyle::from((FONT, label_size).into_font());
        let labels = self
            .bars
            .iter()
            .map(|b| truncated(root, &b.label, &label_style, slot.saturating_sub(4)))
            .collect::<DrawResult<DB, Vec<_>>>()?;

        // Bar i is centred on x = i; ticks, and so labels, fall on whole x.
        let mut chart = frame(root, self.title, -0.5..n as f64 - 0.5, y)?;
        styled(&mut chart.configure_mesh(), "", self.y_label)
            .disable_x_mesh()
            .x_labels(n)
            .x_label_style(label_style.clone())
            .x_label_formatter(&|v| {
                let i = v.round();
                match labels.get(i as usize) {
                    Some(label) if (v - i).abs() < 1e-9 && i >= 0.0 => label.clone(),
                    _ => String::new(),
                }
            })
            .y_label_formatter(&tick)
            .draw()?;

        chart.draw_series(self.bars.iter().enumerate().map(|(i, b)| {
            let x = i as f64;
            Rectangle::new(
                [(x - 0.35, 0.0), (x + 0.35, b.value)],
                NORMAL.mix(0.85).filled(),
            )
        }))?;
        let whisker_style = BLACK.stroke_width(2);
        for (i, b) in self.bars.iter().enumerate() {
            let Some((low, high)) = b.whisker else {
                continue;
            };
            let at = |v: f64| (i as f64, v);
            chart.draw_series([PathElement::new([at(low), at(high)], whisker_style)])?;
            chart.draw_series([low, high].map(|v| {
                EmptyElement::at(at(v)) + PathElement::new([(-7, 0), (7, 0)], whisker_style)
            }))?;
        }
        // The value sits just beyond the end of the bar or its whisker.
        let value_style =
            |v: VPos| TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Center, v));
        chart.draw_series(self.bars.iter().enumerate().map(|(i, b)| {
            let (low, high) = b.whisker.unwrap_or((b.value, b.value));
            let (end, dy, anchor) = if b.value >= 0.0 {
                (high.max(b.value), -5, VPos::Bottom)
            } else {
                // Glyphs rise a little above a top anchor: keep clear of the cap.
                (low.min(b.value), 9, VPos::Top)
            };
            EmptyElement::at((i as f64, end))
                + Text::new(short(b.value), (0, dy), value_style(anchor))
        }))?;
        Ok(())
    }
}

/// Labelled vertical bars from 0, with optional error whiskers `(low, high)`
/// per bar, and each bar's value printed above it (below a negative bar).
/// Long labels are shrunk, then cut, to fit under their bar.
pub fn bar_chart(title: &str, y_label: &str, bars: &[Bar], out_stem: &Path) -> Result<Figure> {
    if bars.is_empty() {
        return Err(Error::InvalidParameter("no bars to plot".to_owned()));
    }
    for b in bars {
        check_finite(&format!("bar {}", b.label), &[b.value])?;
        if let Some((low, high)) = b.whisker {
            check_finite(&format!("whisker of bar {}", b.label), &[low, high])?;
            if low > high {
                return Err(Error::InvalidParameter(format!(
                    "whisker of bar {} ({low}, {high}) has low > high",
                    b.label
                )));
            }
        }
    }
    let chart = BarChart {
        title,
        y_label,
        bars,
    };
    save_chart(&chart, title, out_stem)
}
