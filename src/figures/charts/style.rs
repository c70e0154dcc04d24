//! What every chart shares: the palette, the frame and its ticks, legends,
//! dashed and plain lines, notes placed in the quietest corner.

use std::ops::Range;

use plotters::chart::{ChartContext, MeshStyle, SeriesLabelPosition};
use plotters::coord::Shift;
use plotters::coord::ranged1d::AsRangedCoord;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::figures::{DrawResult, FONT, check_unit, fitted_size, truncated};

/// Normal samples (matplotlib's "tab:blue").
pub(crate) const NORMAL: RGBColor = RGBColor(31, 119, 180);

/// Anomalies (matplotlib's "tab:red").
pub(crate) const ANOMALY: RGBColor = RGBColor(214, 39, 40);

/// Reference lines (random classifier, thresholds, notes).
pub(crate) const GREY: RGBColor = RGBColor(110, 110, 110);

/// Colours for several series, matplotlib's "tab10" cycle.
pub const PALETTE: [RGBColor; 10] = [
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

/// How a line is drawn: with the palette's ten colours, four dashes tell
/// up to forty series apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
    LongDashed,
}

impl Dash {
    pub const ALL: [Dash; 4] = [Dash::Solid, Dash::Dashed, Dash::Dotted, Dash::LongDashed];

    /// Dash and gap lengths in pixels; a solid line is one long dash.
    fn pattern(self) -> (i32, i32) {
        match self {
            Dash::Solid => (10_000, 1),
            Dash::Dashed => DASH,
            Dash::Dotted => (2, 4),
            Dash::LongDashed => (18, 6),
        }
    }
}

/// A series' colour and dash: each series of a chart has its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineStyle {
    pub color: RGBColor,
    pub dash: Dash,
}

impl LineStyle {
    /// The style of the `i`-th series of a list: the palette's colours
    /// solid, then dashed, then dotted, then long-dashed (distinct up to
    /// forty series).
    pub fn nth(i: usize) -> Self {
        Self {
            color: PALETTE[i % PALETTE.len()],
            dash: Dash::ALL[(i / PALETTE.len()) % Dash::ALL.len()],
        }
    }

    /// `styles` with every repeat moved to the next dash of its colour not
    /// yet taken (then to the next colour), so that no two series of a
    /// chart look alike; the first of each style keeps it.
    pub fn distinct(styles: &[LineStyle]) -> Vec<LineStyle> {
        let mut taken: Vec<LineStyle> = Vec::with_capacity(styles.len());
        for &style in styles {
            let dash = Dash::ALL.iter().position(|&d| d == style.dash).unwrap_or(0);
            let own = (0..Dash::ALL.len()).map(|k| LineStyle {
                color: style.color,
                dash: Dash::ALL[(dash + k) % Dash::ALL.len()],
            });
            let others = (0..PALETTE.len() * Dash::ALL.len()).map(LineStyle::nth);
            let free = own.chain(others).find(|c| !taken.contains(c));
            taken.push(free.unwrap_or(style));
        }
        taken
    }

    /// The line through `points`, in data coordinates.
    pub(crate) fn series<I: IntoIterator<Item = (f64, f64)>>(
        self,
        points: I,
        width: u32,
    ) -> DashedLineSeries<I::IntoIter, i32>
    where
        I::IntoIter: Clone,
    {
        let (dash, gap) = self.dash.pattern();
        DashedLineSeries::new(points, dash, gap, self.color.stroke_width(width))
    }

    /// A legend sample of the line, `length` pixels long.
    pub(crate) fn key(
        self,
        length: i32,
    ) -> impl Fn(BackendCoord) -> DashedPathElement<std::array::IntoIter<BackendCoord, 2>, i32>
    {
        let (dash, gap) = self.dash.pattern();
        move |(x, y)| {
            DashedPathElement::new(
                [(x, y), (x + length, y)],
                dash.min(length),
                gap,
                self.color.stroke_width(3),
            )
        }
    }
}

/// A position in pixels (plotters' `BackendCoord`, which it does not re-export).
type BackendCoord = (i32, i32);

/// Dash and gap length of dashed lines, in pixels.
const DASH: (i32, i32) = (8, 5);

/// Space around a chart; more on the right, where the last x label overhangs.
pub(crate) const MARGIN: u32 = 16;

pub(crate) const MARGIN_RIGHT: u32 = 28;

/// Width of the y axis's tick labels and description.
pub(crate) const Y_LABEL_AREA: u32 = 76;

/// A cartesian chart with axes `X` and `Y`, as [`frame`] builds it.
type Frame<'a, DB, X, Y> = ChartContext<
    'a,
    DB,
    Cartesian2d<<X as AsRangedCoord>::CoordDescType, <Y as AsRangedCoord>::CoordDescType>,
>;

/// A cartesian chart on `area` with the title on top and room for axis labels.
pub(crate) fn frame<'a, DB: DrawingBackend, X: AsRangedCoord, Y: AsRangedCoord>(
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
pub(crate) fn styled<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
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
pub(crate) fn tick(v: &f64) -> String {
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" => "0".to_owned(),
        _ => text.to_owned(),
    }
}

/// A tick label on a count axis (epochs, ranks): whole values only, as the
/// tick algorithm may also pick halves.
pub(crate) fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// Draws the legend of the labelled series at `position`.
pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
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
pub(crate) fn line_key(color: RGBColor) -> impl Fn(BackendCoord) -> PathElement<BackendCoord> {
    move |(x, y)| PathElement::new([(x, y), (x + 22, y)], color.stroke_width(3))
}

/// A legend sample for a dashed line.
pub(crate) fn dash_key(
    color: RGBColor,
) -> impl Fn(BackendCoord) -> DashedPathElement<std::array::IntoIter<BackendCoord, 2>, i32> {
    move |(x, y)| DashedPathElement::new([(x, y), (x + 22, y)], 6, 3, color.stroke_width(2))
}

/// A legend sample for a filled marker or bar.
pub(crate) fn box_key(color: RGBColor) -> impl Fn(BackendCoord) -> Rectangle<BackendCoord> {
    move |(x, y)| Rectangle::new([(x + 4, y - 6), (x + 16, y + 6)], color.filled())
}

/// A dashed line through `points`, in data coordinates.
pub(crate) fn dashed<I: IntoIterator<Item = (f64, f64)>>(
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
pub(crate) fn with_note<DB: DrawingBackend>(
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
pub(crate) fn polyline(xs: &[f64], ys: &[f64]) -> Vec<(f64, f64)> {
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
pub(crate) fn quiet_corner(
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
pub(crate) fn floor_at_zero(range: Range<f64>, data_min: f64) -> Range<f64> {
    if data_min >= 0.0 && range.start < 0.0 {
        0.0..range.end
    } else {
        range
    }
}

/// Checks an optional confidence interval: finite, in 0..=1, low <= high.
pub(crate) fn check_ci(name: &str, ci: Option<(f64, f64)>) -> Result<()> {
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
pub(crate) fn area_label(name: &str, value: f64, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((low, high)) => format!("{name} {value:.3} [{low:.3}, {high:.3}]"),
        None => format!("{name} {value:.3}"),
    }
}

/// Each series as a line in its style (`styles[i]` for `series[i]`), with
/// its legend entry; returns the points the lines cover (for
/// [`quiet_corner`]).
pub(crate) fn draw_lines<DB: DrawingBackend>(
    chart: &mut Frame<'_, DB, Range<f64>, Range<f64>>,
    series: &[Series],
    styles: &[LineStyle],
) -> DrawResult<DB, Vec<(f64, f64)>> {
    let mut points = Vec::new();
    for (s, style) in series.iter().zip(styles) {
        let line = s.xs.iter().copied().zip(s.ys.iter().copied());
        chart
            .draw_series(style.series(line, 2))?
            .label(s.label.as_str())
            .legend(style.key(22));
        points.extend(polyline(&s.xs, &s.ys));
    }
    Ok(points)
}

/// Draws a legend of `entries` (label and style) down `area`, beside the
/// plot rather than over its curves, from `top` pixels down: a line
/// sample, then the label, shrunk (to 11 px) and then cut to the width.
pub(crate) fn draw_side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, LineStyle)],
    top: i32,
) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let rows = entries.len().max(1) as i32;
    let row = ((h as i32 - top - 8) / rows).clamp(14, 26);
    let text_x = 52;
    let text_width = w.saturating_sub(text_x as u32 + 8);
    for (i, (label, style)) in entries.iter().enumerate() {
        let y = top + row * i as i32 + row / 2;
        area.draw(&style.key(34)((8, y)))?;
        let size = fitted_size(area, label, 15.0, text_width)?.max(11.0);
        let font = TextStyle::from((FONT, size).into_font());
        let text = truncated(area, label, &font, text_width)?;
        let (_, text_h) = area.estimate_text_size(&text, &font)?;
        area.draw(&Text::new(text, (text_x, y - text_h as i32 / 2), font))?;
    }
    Ok(())
}

/// A labelled curve, for [`crate::figures::density_plot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub label: String,
    /// X values, as many as `ys`.
    pub xs: Vec<f64>,
    /// Y values.
    pub ys: Vec<f64>,
}
