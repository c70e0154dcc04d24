//! Curves over epochs and thresholds: training loss, ROC (one or several
//! models) and precision-recall, with their bootstrap bands.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::figures::charts::{
    Dash, GREY, LineStyle, NORMAL, PALETTE, Series, area_label, check_ci, dash_key, dashed,
    draw_legend, draw_side_legend, floor_at_zero, frame, line_key, polyline, quiet_corner, styled,
    tick, whole,
};
use crate::figures::{
    Chart, DrawResult, Figure, check_finite, check_same_len, check_unit, extent, padded,
    save_chart, short,
};

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

/// Several ROC curves in the unit square, each in its style, the legend
/// beside the plot.
struct RocCurves<'a> {
    title: &'a str,
    series: &'a [Series],
    styles: &'a [LineStyle],
}

/// The size of [`RocCurves`]: the square plot on the left, the legend on
/// the right.
const ROC_CURVES_SIZE: (u32, u32) = (1240, 620);

impl Chart for RocCurves<'_> {
    fn size(&self) -> (u32, u32) {
        ROC_CURVES_SIZE
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let range = -0.01..1.01;
        let (w, h) = root.dim_in_pixel();
        let (plot, side) = root.split_horizontally(h.min(w / 2) + 20);
        let mut chart = frame(&plot, self.title, range.clone(), range.clone())?;
        styled(
            &mut chart.configure_mesh(),
            "false positive rate",
            "true positive rate (recall)",
        )
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
        chart.draw_series(dashed([(0.0, 0.0), (1.0, 1.0)], GREY))?;
        for (s, style) in self.series.iter().zip(self.styles) {
            let line = s.xs.iter().copied().zip(s.ys.iter().copied());
            chart.draw_series(style.series(line, 2))?;
        }
        let random = LineStyle {
            color: GREY,
            dash: Dash::Dashed,
        };
        let entries: Vec<(String, LineStyle)> =
            std::iter::once(("random classifier".into(), random))
                .chain(
                    self.series
                        .iter()
                        .map(|s| s.label.clone())
                        .zip(self.styles.iter().copied()),
                )
                .collect();
        // The legend's top at the plot's.
        let top = chart.plotting_area().get_base_pixel().1;
        draw_side_legend(&side, &entries, top)
    }
}

/// ROC curves of several scores on one chart (FPR x, TPR y, each
/// [`Series`] a curve with its legend entry, e.g. "kNN (AUROC 0.950)"),
/// with the diagonal of a random classifier; the legend beside the plot.
/// The curves take [`LineStyle::nth`] in order (the palette's colours,
/// then dashed).
pub fn roc_curves(title: &str, series: &[Series], out_stem: &Path) -> Result<Figure> {
    let styles: Vec<LineStyle> = (0..series.len()).map(LineStyle::nth).collect();
    styled_roc_curves(title, series, &styles, out_stem)
}

/// [`roc_curves`], `series[i]` drawn in `styles[i]` (repeats moved to a
/// free dash by [`LineStyle::distinct`], so that no two curves look
/// alike).
pub fn styled_roc_curves(
    title: &str,
    series: &[Series],
    styles: &[LineStyle],
    out_stem: &Path,
) -> Result<Figure> {
    if series.is_empty() {
        return Err(Error::InvalidParameter("no curve to plot".to_owned()));
    }
    check_same_len("series", series.len(), "styles", styles.len())?;
    for s in series {
        check_unit(&format!("{} fpr", s.label), &s.xs)?;
        check_unit(&format!("{} tpr", s.label), &s.ys)?;
        check_same_len("fpr", s.xs.len(), "tpr", s.ys.len())?;
    }
    let styles = LineStyle::distinct(styles);
    save_chart(
        &RocCurves {
            title,
            series,
            styles: &styles,
        },
        title,
        out_stem,
    )
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
