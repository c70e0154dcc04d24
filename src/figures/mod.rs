//! The study's figures, drawn with plotters.
//!
//! Every chart is written twice, as `<out_stem>.png` and `<out_stem>.svg`,
//! from the same drawing code; [`image_grid`] writes a PNG only, since an SVG
//! would have to embed every tile as a bitmap anyway. Each file is written
//! through a temporary sibling and a rename, so a reader never sees a torn
//! figure.
//!
//! Text needs no system font: DejaVu Sans (see `FONT-LICENSE` next to this
//! file) is compiled into the crate and registered with plotters as
//! `sans-serif` before anything is drawn. SVG files name the `sans-serif`
//! family and leave the font to the viewer.

mod charts;
mod detector_style;
mod grid;
pub mod plot;

use std::fmt::Display;
use std::io::Cursor;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

use base64::Engine;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Error, IoContext, Result};
use crate::io::write_bytes_atomic;

pub use charts::{
    Bar, Dash, LineStyle, PALETTE, Series, bar_chart, confusion_matrix, density_plot, loss_curves,
    pca_scatter, pr_curve, roc_curve, roc_curves, sorted_errors, styled_roc_curves,
};
pub use grid::{Tile, heatmap_rgb, image_grid};

/// A figure on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The title drawn on the figure.
    pub title: String,
    /// The PNG file, always written.
    pub png: PathBuf,
    /// The SVG file, written for charts but not for image grids.
    pub svg: Option<PathBuf>,
}

impl Figure {
    /// Shows the PNG inline in an evcxr (Rust Jupyter) notebook: prints
    /// `"EVCXR_BEGIN_CONTENT image/png\n<base64>\nEVCXR_END_CONTENT\n"` to stdout.
    ///
    /// A PNG that cannot be read is reported on stderr, so that a notebook
    /// cell goes on rather than panics.
    pub fn evcxr_display(&self) {
        match self.evcxr_content() {
            Ok(content) => print!("{content}"),
            Err(e) => eprintln!("cannot display figure {:?}: {e}", self.title),
        }
    }

    /// The text [`Figure::evcxr_display`] prints: the PNG, base64-encoded,
    /// between evcxr's content markers.
    pub fn evcxr_content(&self) -> Result<String> {
        let bytes = std::fs::read(&self.png).at(&self.png)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok(format!(
            "EVCXR_BEGIN_CONTENT image/png\n{encoded}\nEVCXR_END_CONTENT\n"
        ))
    }
}

/// DejaVu Sans, from matplotlib's distribution; licence in `FONT-LICENSE`.
const FONT_BYTES: &[u8] = include_bytes!("DejaVuSans.ttf");

/// The family every text style names; plotters' default family too.
const FONT: &str = "sans-serif";

/// Registers the bundled font with plotters, once per process. Every public
/// drawing function calls this first: plotters, built without system-font
/// support, has no font until one is registered.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // Other styles (bold, italic) fall back to this one.
        let registered =
            plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok();
        assert!(registered, "the bundled DejaVuSans.ttf is not a valid font");
    });
}

/// The error of a drawing operation on backend `DB`.
type AreaError<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;

/// The result of drawing (or measuring text) on backend `DB`.
type DrawResult<DB, T = ()> = std::result::Result<T, AreaError<DB>>;

/// Size of every chart, in pixels.
const CHART_SIZE: (u32, u32) = (800, 560);

/// A chart that can draw itself on any backend, so that the PNG and the SVG
/// come from the same code.
trait Chart {
    /// Draws the whole chart, title included, on a white `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;

    /// Its size in pixels: [`CHART_SIZE`] unless it needs more (a legend
    /// beside the plot).
    fn size(&self) -> (u32, u32) {
        CHART_SIZE
    }
}

/// Maps a plotters or encoder error to the crate's error.
fn plot_err(e: impl Display) -> Error {
    Error::Plot(e.to_string())
}

/// `<out_stem>.<ext>`; appended rather than `with_extension`, which would
/// eat a dot in the stem ("roc.p80").
fn with_ext(out_stem: &Path, ext: &str) -> PathBuf {
    let mut name = out_stem.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// Writes `chart` as `<out_stem>.png` and `<out_stem>.svg`.
fn save_chart(chart: &impl Chart, title: &str, out_stem: &Path) -> Result<Figure> {
    register_font();
    let size = chart.size();
    let (w, h) = size;
    let png = with_ext(out_stem, "png");
    let white = vec![255; w as usize * h as usize * 3];
    write_png(&png, size, white, |root| chart.draw(root))?;

    let svg = with_ext(out_stem, "svg");
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        chart.draw(&root).map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    write_bytes_atomic(&svg, text.as_bytes())?;

    Ok(Figure {
        title: title.to_owned(),
        png,
        svg: Some(svg),
    })
}

/// Draws on `pixels` (RGB, `size`, already painted) and writes them as a PNG.
fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    mut pixels: Vec<u8>,
    draw: impl for<'b> FnOnce(&DrawingArea<BitMapBackend<'b>, Shift>) -> DrawResult<BitMapBackend<'b>>,
) -> Result<()> {
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        draw(&root).map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    let image = image::RgbImage::from_raw(w, h, pixels)
        .ok_or_else(|| Error::Plot(format!("pixel buffer does not match {w}x{h}")))?;
    let mut bytes = Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .map_err(|e| Error::Plot(format!("encoding {}: {e}", path.display())))?;
    write_bytes_atomic(path, bytes.get_ref())
}

/// Checks that `values` is not empty and holds only finite numbers.
fn check_finite(name: &str, values: &[f64]) -> Result<()> {
    if values.is_empty() {
        return Err(Error::InvalidParameter(format!("{name} is empty")));
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::InvalidParameter(format!(
            "{name}[{i}] is {}, not a finite number",
            values[i]
        ))),
        None => Ok(()),
    }
}

/// [`check_finite`], and every value in `0..=1` (rates, probabilities).
fn check_unit(name: &str, values: &[f64]) -> Result<()> {
    check_finite(name, values)?;
    match values.iter().position(|v| !(0.0..=1.0).contains(v)) {
        Some(i) => Err(Error::InvalidParameter(format!(
            "{name}[{i}] is {}, outside 0..=1",
            values[i]
        ))),
        None => Ok(()),
    }
}

/// Checks that two parallel inputs have the same length.
fn check_same_len(a: &str, a_len: usize, b: &str, b_len: usize) -> Result<()> {
    if a_len == b_len {
        Ok(())
    } else {
        Err(Error::InvalidParameter(format!(
            "{a} has {a_len} values but {b} has {b_len}"
        )))
    }
}

/// `min..max` of `values` (finite, not empty).
fn extent(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    values
        .into_iter()
        .fold(f64::INFINITY..f64::NEG_INFINITY, |r, v| {
            r.start.min(v)..r.end.max(v)
        })
}

/// `range` widened by `frac` of its span on both sides. A range of one value
/// (a single point, all-equal data) gets a pad relative to the value, or 1
/// around zero, so that the axis never has zero length.
fn padded(range: Range<f64>, frac: f64) -> Range<f64> {
    let span = range.end - range.start;
    let pad = if span > 0.0 {
        span * frac
    } else if range.start != 0.0 {
        range.start.abs() * 0.1
    } else {
        1.0
    };
    range.start - pad..range.end + pad
}

/// A number with three significant digits, for labels: 0.0123, 0.912, 12.3.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// The font size, at most `size`, at which `text` fits in `max_width` pixels
/// (never below 9, where text stops being legible).
fn fitted_size<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    size: f64,
    max_width: u32,
) -> DrawResult<DB, f64> {
    let (width, _) = area.estimate_text_size(text, &TextStyle::from((FONT, size).into_font()))?;
    Ok(if width <= max_width {
        size
    } else {
        (size * f64::from(max_width) / f64::from(width)).max(9.0)
    })
}

/// `text`, cut and ended with "…" where it is wider than `max_width` pixels.
fn truncated<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_width: u32,
) -> DrawResult<DB, String> {
    if area.estimate_text_size(text, style)?.0 <= max_width {
        return Ok(text.to_owned());
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (0..chars.len()).rev() {
        let candidate: String = chars[..keep].iter().chain(['…'].iter()).collect();
        if area.estimate_text_size(&candidate, style)?.0 <= max_width {
            return Ok(candidate);
        }
    }
    Ok(String::new())
}
