//! Bar charts with interval whiskers.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};
use crate::figures::charts::{MARGIN, MARGIN_RIGHT, NORMAL, Y_LABEL_AREA, frame, styled, tick};
use crate::figures::{
    Chart, DrawResult, FONT, Figure, check_finite, extent, fitted_size, save_chart, short,
    truncated,
};

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
