//! Image grids (inputs, reconstructions, error maps) and the heat map that
//! turns an error map into an image.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FONT, Figure, fitted_size, register_font, truncated, with_ext, write_png};
use crate::error::{Error, Result};

/// An S×S RGB image (HWC u8, as in the crate's cache) with a caption, for
/// [`image_grid`].
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    /// Side length S in pixels.
    pub size: usize,
    /// S·S·3 bytes, row by row, RGB.
    pub rgb: Vec<u8>,
    /// Text under the tile; cut with "…" where wider than the tile.
    pub caption: String,
    /// A frame around the tile, e.g. to mark anomalies or detections.
    pub border: Option<RGBColor>,
}

/// Matplotlib's "inferno" colour map at 17 evenly spaced points: dark for
/// low error, bright yellow for high, and monotone in brightness.
const INFERNO: [[u8; 3]; 17] = [
    [0, 0, 4],
    [11, 7, 36],
    [33, 12, 74],
    [61, 9, 101],
    [87, 16, 110],
    [113, 25, 110],
    [138, 34, 106],
    [163, 44, 97],
    [188, 55, 84],
    [208, 69, 69],
    [227, 89, 51],
    [241, 113, 31],
    [249, 140, 10],
    [252, 170, 15],
    [249, 201, 50],
    [242, 232, 101],
    [252, 255, 164],
];

/// The inferno colour at `t` in 0..=1, interpolated between the stops.
fn inferno(t: f32) -> [u8; 3] {
    // NaN (no error known) takes the bottom of the scale.
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let pos = t * (INFERNO.len() - 1) as f32;
    let i = (pos as usize).min(INFERNO.len() - 2);
    let f = pos - i as f32;
    let (a, b) = (INFERNO[i], INFERNO[i + 1]);
    std::array::from_fn(|c| {
        let (a, b) = (f32::from(a[c]), f32::from(b[c]));
        (a + f * (b - a)).round() as u8
    })
}

/// Renders an S×S error map (values >= 0) as an RGB heat map (HWC u8, ready
/// for a [`Tile`]) with matplotlib's "inferno" colours: 0 is black, `max`
/// and anything above it pale yellow. A `max` that is not positive maps
/// everything to black, and so does NaN.
///
/// # Panics
///
/// If `values.len()` is not `size * size`.
pub fn heatmap_rgb(values: &[f32], size: usize, max: f32) -> Vec<u8> {
    assert_eq!(
        values.len(),
        size * size,
        "heatmap_rgb: {} values for a {size}×{size} map",
        values.len()
    );
    values
        .iter()
        .flat_map(|&v| inferno(if max > 0.0 { v / max } else { 0.0 }))
        .collect()
}

/// Tiles smaller than this are scaled up by a whole factor to at least this
/// size, so that 32-px smoke-test images stay visible.
const MIN_TILE: usize = 96;
/// Space around the grid.
const MARGIN: usize = 16;
/// Space between cells, wide enough for two borders.
const GAP: usize = 14;
/// Height of the title band above the grid.
const TITLE_H: usize = 56;
/// Height of the caption band under each tile.
const CAPTION_H: usize = 22;
/// Width of the row-label column, when there are row labels.
const LABEL_W: usize = 170;
/// Width of a tile's border.
const BORDER: i32 = 3;
/// Narrowest figure, so that a short grid still has room for its title.
const MIN_WIDTH: usize = 480;

/// Where every tile of a grid goes, in pixels.
struct Layout {
    w: usize,
    h: usize,
    /// Side of a cell: the largest displayed tile.
    cell: usize,
    /// The left edge of the first column.
    left: usize,
    columns: usize,
}

/// Whole-factor upscaling of a tile smaller than [`MIN_TILE`].
fn scale(tile: &Tile) -> usize {
    MIN_TILE.div_ceil(tile.size)
}

impl Layout {
    fn new(tiles: &[Tile], columns: usize, rows: usize, labelled: bool) -> Self {
        let cell = tiles.iter().map(|t| t.size * scale(t)).max().unwrap_or(0);
        let cols = columns.min(tiles.len());
        let label_w = if labelled { LABEL_W } else { 0 };
        let content_w = 2 * MARGIN + label_w + cols * cell + (cols - 1) * GAP;
        let w = content_w.max(MIN_WIDTH);
        Self {
            w,
            h: TITLE_H + rows * (cell + CAPTION_H) + (rows - 1) * GAP + MARGIN,
            cell,
            // A grid narrower than the figure is centred under the title.
            left: (w - content_w) / 2 + MARGIN + label_w,
            columns,
        }
    }

    /// The top-left pixel of cell `i`.
    fn cell_origin(&self, i: usize) -> (usize, usize) {
        let (r, c) = (i / self.columns, i % self.columns);
        (
            self.left + c * (self.cell + GAP),
            TITLE_H + r * (self.cell + CAPTION_H + GAP),
        )
    }

    /// The top-left pixel and displayed side of `tile` in cell `i`, centred.
    fn placement(&self, i: usize, tile: &Tile) -> (usize, usize, usize) {
        let shown = tile.size * scale(tile);
        let (x, y) = self.cell_origin(i);
        let inset = (self.cell - shown) / 2;
        (x + inset, y + inset, shown)
    }

    /// The tiles painted into a white RGB buffer of the figure's size.
    fn paint(&self, tiles: &[Tile]) -> Vec<u8> {
        let mut pixels = vec![255u8; self.w * self.h * 3];
        for (i, tile) in tiles.iter().enumerate() {
            let (x0, y0, shown) = self.placement(i, tile);
            let k = scale(tile);
            for y in 0..shown {
                for x in 0..shown {
                    let src = ((y / k) * tile.size + x / k) * 3;
                    let dst = ((y0 + y) * self.w + x0 + x) * 3;
                    pixels[dst..dst + 3].copy_from_slice(&tile.rgb[src..src + 3]);
                }
            }
        }
        pixels
    }
}

/// The grid's rows, once the tiles, the columns and the labels fit.
fn check_grid(tiles: &[Tile], columns: usize, row_labels: Option<&[String]>) -> Result<usize> {
    if tiles.is_empty() {
        return Err(Error::InvalidParameter("no tiles to draw".to_owned()));
    }
    if columns == 0 {
        return Err(Error::InvalidParameter(
            "columns must be at least 1".to_owned(),
        ));
    }
    for (i, tile) in tiles.iter().enumerate() {
        if tile.size == 0 || tile.rgb.len() != tile.size * tile.size * 3 {
            return Err(Error::InvalidParameter(format!(
                "tile {i} ({:?}) has {} bytes, not {s}×{s}×3 with size {s} >= 1",
                tile.caption,
                tile.rgb.len(),
                s = tile.size
            )));
        }
    }
    let rows = tiles.len().div_ceil(columns);
    if let Some(labels) = row_labels
        && labels.len() != rows
    {
        return Err(Error::InvalidParameter(format!(
            "{} row labels for {rows} rows",
            labels.len()
        )));
    }
    Ok(rows)
}

/// A titled grid of tiles, `columns` per row, with optional row labels drawn
/// at the left (`Some(labels)` must have one label per row). Tiles smaller
/// than 96 px are scaled up (nearest neighbour, by a whole factor) so that
/// 32-px images stay visible; tiles of different sizes are centred in cells
/// of the largest. Captions go under each tile in a small font, cut where
/// too long; a coloured border is drawn where `border` is `Some`.
///
/// PNG only (`svg: None`): an SVG would embed the tiles as bitmaps anyway.
pub fn image_grid(
    title: &str,
    tiles: &[Tile],
    columns: usize,
    row_labels: Option<&[String]>,
    out_stem: &Path,
) -> Result<Figure> {
    let rows = check_grid(tiles, columns, row_labels)?;
    register_font();
    let layout = Layout::new(tiles, columns, rows, row_labels.is_some());
    let (w, cell) = (layout.w, layout.cell);
    // Tiles go straight into the pixel buffer; plotters draws text on top.
    let pixels = layout.paint(tiles);
    let png = with_ext(out_stem, "png");
    let size = (w as u32, layout.h as u32);
    write_png(&png, size, pixels, |root| {
        let title_size = fitted_size(root, title, 22.0, size.0 - 2 * MARGIN as u32)?;
        root.draw(&Text::new(
            title.to_owned(),
            (w as i32 / 2, 16),
            TextStyle::from((FONT, title_size).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;

        let caption_style =
            TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, tile) in tiles.iter().enumerate() {
            let (x0, y0, shown) = layout.placement(i, tile);
            let (x0, y0, shown) = (x0 as i32, y0 as i32, shown as i32);
            if let Some(color) = tile.border {
                for b in 1..=BORDER {
                    root.draw(&Rectangle::new(
                        [(x0 - b, y0 - b), (x0 + shown - 1 + b, y0 + shown - 1 + b)],
                        color,
                    ))?;
                }
            }
            let (cx, cy) = layout.cell_origin(i);
            let caption = truncated(root, &tile.caption, &caption_style, (cell + GAP - 4) as u32)?;
            root.draw(&Text::new(
                caption,
                ((cx + cell / 2) as i32, (cy + cell + 5) as i32),
                caption_style.clone(),
            ))?;
        }

        let label_style =
            TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (r, label) in row_labels.unwrap_or_default().iter().enumerate() {
            let (x, y) = layout.cell_origin(r * columns);
            let text = truncated(root, label, &label_style, (LABEL_W - 12) as u32)?;
            root.draw(&Text::new(
                text,
                ((x - 10) as i32, (y + cell / 2) as i32),
                label_style.clone(),
            ))?;
        }
        Ok(())
    })?;

    Ok(Figure {
        title: title.to_owned(),
        png,
        svg: None,
    })
}
