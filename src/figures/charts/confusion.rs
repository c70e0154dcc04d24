//! The confusion matrix as a heat map with its colour bar.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::figures::charts::GREY;
use crate::figures::{Chart, DrawResult, FONT, Figure, fitted_size, save_chart};

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

pub(crate) fn centred(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Top))
}

pub(crate) fn label_style(size: f64, h: HPos) -> TextStyle<'static> {
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
