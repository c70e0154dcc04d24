//! Image decoding to RGB and the report's bilinear resize.
//!
//! # Decoding
//! JPEGs (the dataset's images) with zune-jpeg in strict mode, converting
//! every input colour space to RGB: 411 Caltech-101 images are grayscale,
//! and CMYK/YCCK files occur in the wild. Strict mode turns a truncated or
//! corrupt stream into an error instead of a silently grey-filled image.
//! The header is checked against [`DecodeLimits`] before any pixel memory
//! is allocated. New images to score may also be PNGs (any colour type),
//! read with the `image` crate by [`decode_image_rgb`].
//!
//! # Resizing
//! [`resize_bilinear`] is the algorithm of `tf.image.resize(images, size)`
//! with its defaults (`method="bilinear"`, `antialias=False`), which the
//! report used: half-pixel centres, the two nearest source pixels per axis,
//! edges clamped. It is also PyTorch's `interpolate(mode="bilinear",
//! align_corners=False, antialias=False)`; the unit tests check it against
//! values computed with PyTorch. TensorFlow returns `float32` in 0..=255; we
//! round to `u8` for the cache, so a cached pixel differs from TF's by at
//! most 0.5/255 after scaling to [0, 1].
//!
//! Shrinking that way reads only 2 of every `scale` source pixels per axis,
//! so fine texture aliases into the small image. [`Resize::Antialiased`]
//! is the alternative for measuring what that does: PIL's
//! `Image.resize(size, BILINEAR)`, the triangle filter widened by the
//! scale so that every source pixel contributes.

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::error::{Error, Result, parse_choice};

/// How images are resized to the model's input.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// `tf.image.resize`'s default, the report's: [`resize_bilinear`].
    #[default]
    Bilinear,
    /// PIL's antialiased bilinear: [`resize_antialiased`].
    Antialiased,
}

impl Resize {
    pub const ALL: [Resize; 2] = [Resize::Bilinear, Resize::Antialiased];

    /// The method's name on the command line and in `Display`.
    pub fn name(self) -> &'static str {
        match self {
            Resize::Bilinear => "bilinear",
            Resize::Antialiased => "antialiased",
        }
    }

    /// The method's name in cache keys, run keys and metadata.
    pub fn description(self) -> &'static str {
        match self {
            Resize::Bilinear => "bilinear-half-pixel (tf.image.resize default)",
            Resize::Antialiased => "triangle-antialiased (PIL Image.resize BILINEAR)",
        }
    }

    /// Resizes `src` into `out` (`out_width * out_height * 3` bytes).
    pub fn apply(self, src: &RgbImage, out_width: usize, out_height: usize, out: &mut [u8]) {
        match self {
            Resize::Bilinear => resize_bilinear(src, out_width, out_height, out),
            Resize::Antialiased => resize_antialiased(src, out_width, out_height, out),
        }
    }
}

impl std::str::FromStr for Resize {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_choice("resize method", s, &Self::ALL, Self::name)
    }
}

impl std::fmt::Display for Resize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Bounds on what the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest accepted width or height in pixels. The largest Caltech-101
    /// image is 3,481 px wide; 8,192 leaves room and caps a decoded image at
    /// 192 MiB.
    pub max_side: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_side: 8192 }
    }
}

/// A decoded image, 3 bytes per pixel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The formats [`decode_image_rgb`] reads (the `image` crate's features),
/// for messages.
pub const READ_FORMATS: &str = "JPEG, PNG";

/// Decodes an image file's bytes to RGB, its format told by its content:
/// a JPEG with [`decode_jpeg_rgb`], the cache's decoder, so that a new
/// image is read exactly as the training images were; another format the
/// `image` crate reads with it, grayscale spread to three channels, alpha
/// dropped (as `tf.io.decode_png(channels=3)` does) and 16-bit samples
/// scaled to 8 bits. The error is a reason, to be paired with the file
/// name by the caller.
pub fn decode_image_rgb(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    match ::image::guess_format(bytes) {
        Ok(::image::ImageFormat::Jpeg) => decode_jpeg_rgb(bytes, limits),
        Ok(format) if format.reading_enabled() => decode_other_rgb(bytes, format, limits),
        Ok(format) => Err(format!(
            "a {format:?} image, a format this build does not read ({READ_FORMATS})"
        )),
        Err(_) => Err(format!("not an image this build reads ({READ_FORMATS})")),
    }
}

/// [`decode_image_rgb`] for a format other than JPEG.
fn decode_other_rgb(
    bytes: &[u8],
    format: ::image::ImageFormat,
    limits: DecodeLimits,
) -> Result<RgbImage, String> {
    let reader = || ::image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let unreadable = |e: ::image::ImageError| format!("corrupt or truncated {format:?} ({e})");
    let (width, height) = reader().into_dimensions().map_err(unreadable)?;
    let (width, height) = (width as usize, height as usize);
    if width == 0 || height == 0 {
        return Err(format!(
            "{format:?} declares an empty {width}x{height} image"
        ));
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(format!(
            "image is {width}x{height} px, over the limit of {} px per side",
            limits.max_side
        ));
    }
    let rgb = reader().decode().map_err(unreadable)?.to_rgb8();
    Ok(RgbImage {
        width,
        height,
        pixels: rgb.into_raw(),
    })
}

/// Decodes a JPEG file's bytes to RGB. The error is a reason, to be paired
/// with the file name by the caller.
pub fn decode_jpeg_rgb(bytes: &[u8], limits: DecodeLimits) -> Result<RgbImage, String> {
    let mut image = RgbImage {
        width: 0,
        height: 0,
        pixels: Vec::new(),
    };
    decode_jpeg_rgb_into(bytes, limits, &mut image)?;
    Ok(image)
}

/// [`decode_jpeg_rgb`] into an existing image, reusing its pixel buffer: a
/// decoded image is larger than the allocator's mmap threshold, so a fresh
/// buffer per image would cost system calls and page faults.
pub fn decode_jpeg_rgb_into(
    bytes: &[u8],
    limits: DecodeLimits,
    image: &mut RgbImage,
) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| format!("not a readable JPEG ({e})"))?;
    let info = decoder
        .info()
        .ok_or_else(|| "JPEG header without image info".to_string())?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    if width == 0 || height == 0 {
        return Err(format!("JPEG declares an empty {width}x{height} image"));
    }
    if width > limits.max_side || height > limits.max_side {
        return Err(format!(
            "image is {width}x{height} px, over the limit of {} px per side",
            limits.max_side
        ));
    }
    let len = decoder
        .output_buffer_size()
        .ok_or_else(|| "JPEG header without an output size".to_string())?;
    if len != width * height * 3 {
        return Err(format!(
            "decoder wants {len} bytes for a {width}x{height} RGB image"
        ));
    }
    image.pixels.resize(len, 0);
    decoder
        .decode_into(&mut image.pixels)
        .map_err(|e| format!("corrupt or truncated JPEG ({e})"))?;
    image.width = width;
    image.height = height;
    Ok(())
}

/// For one output coordinate: the two source coordinates and the weight of
/// the second, as TensorFlow's `compute_interpolation_weights` with
/// half-pixel centres.
#[derive(Debug, Clone, Copy)]
struct Tap {
    lower: usize,
    upper: usize,
    lerp: f32,
}

fn taps(in_size: usize, out_size: usize) -> Vec<Tap> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|o| {
            let x = (o as f32 + 0.5) * scale - 0.5;
            let floor = x.floor();
            Tap {
                lower: floor.max(0.0) as usize,
                upper: (x.ceil().max(0.0) as usize).min(in_size - 1),
                lerp: x - floor,
            }
        })
        .collect()
}

/// Interpolates one source row horizontally: `out[x] = l + (u - l) * lerp`,
/// TensorFlow's `top`/`bottom` term, for every output column and channel.
/// `row` is scratch space for the source row as `f32`.
fn interpolate_row(src_row: &[u8], xs: &[Tap], row: &mut [f32], out: &mut [f32]) {
    // Converting once up front keeps the gather below free of conversions.
    for (dst, &src) in row.iter_mut().zip(src_row) {
        *dst = f32::from(src);
    }
    let (pixels, _) = row.as_chunks::<3>();
    let (out, _) = out.as_chunks_mut::<3>();
    for (tap, o) in xs.iter().zip(out) {
        let (l, u) = (pixels[tap.lower], pixels[tap.upper]);
        *o = [0, 1, 2].map(|c| l[c] + (u[c] - l[c]) * tap.lerp);
    }
}

/// Rounds half up; `v` is within 0..=255 (a convex combination of bytes).
/// Cheaper than `f32::round`, which is a libm call without SSE4.1, and
/// written so that the loops calling it vectorise: a vector clamp and a
/// plain truncating conversion (`v ≥ 0`, so truncation is the floor)
/// instead of `as`, whose saturation compiles to scalar code per value.
fn round_to_u8(v: f32) -> u8 {
    // A no-op for the values that occur; unlike `clamp`, `max` maps a NaN
    // to 0, which keeps the conversion below defined for every input.
    #[allow(clippy::manual_clamp)]
    let v = v.max(0.0).min(255.0);
    // SAFETY: v is finite and within 0..=255, so it fits an i32.
    let floor = unsafe { v.to_int_unchecked::<i32>() };
    (floor + i32::from(v - floor as f32 >= 0.5)) as u8
}

/// Resizes an RGB image to `out_width` × `out_height` with TensorFlow's
/// bilinear kernel (see the module docs), writing into `out`, which must hold
/// `out_width * out_height * 3` bytes.
///
/// Rows are interpolated horizontally once each and reused by the (up to
/// two) output rows that read them, then blended vertically; the arithmetic
/// is TensorFlow's, term for term.
///
/// # Panics
/// If `out` has the wrong length or the source is empty.
pub fn resize_bilinear(src: &RgbImage, out_width: usize, out_height: usize, out: &mut [u8]) {
    assert_eq!(out.len(), out_width * out_height * 3, "output buffer size");
    assert!(src.width > 0 && src.height > 0, "empty source image");
    let xs = taps(src.width, out_width);
    let ys = taps(src.height, out_height);
    let row_len = src.width * 3;
    let source_row = |y: usize| &src.pixels[y * row_len..][..row_len];
    // Horizontal results for the current top and bottom source rows.
    let mut row = vec![0f32; row_len];
    let mut top = (usize::MAX, vec![0f32; out_width * 3]);
    let mut bottom = (usize::MAX, vec![0f32; out_width * 3]);
    for (ty, out_row) in ys.iter().zip(out.chunks_exact_mut(out_width * 3)) {
        if top.0 != ty.lower {
            if bottom.0 == ty.lower {
                std::mem::swap(&mut top, &mut bottom);
            } else {
                interpolate_row(source_row(ty.lower), &xs, &mut row, &mut top.1);
                top.0 = ty.lower;
            }
        }
        if bottom.0 != ty.upper {
            interpolate_row(source_row(ty.upper), &xs, &mut row, &mut bottom.1);
            bottom.0 = ty.upper;
        }
        for ((o, &t), &b) in out_row.iter_mut().zip(&top.1).zip(&bottom.1) {
            *o = round_to_u8(t + (b - t) * ty.lerp);
        }
    }
}

/// One output sample of [`resize_antialiased`]: the weights of the source
/// samples from `start` on, summing to 1.
struct Footprint {
    start: usize,
    weights: Vec<f32>,
}

/// PIL's `precompute_coeffs` for the triangle filter: centred at
/// `(o + 0.5) · scale`, support `max(scale, 1)` source samples each side.
fn footprints(in_size: usize, out_size: usize) -> Vec<Footprint> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    (0..out_size)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale;
            let start = ((centre - filter_scale + 0.5).floor().max(0.0)) as usize;
            let end = ((centre + filter_scale + 0.5).floor() as usize).clamp(start + 1, in_size);
            let raw: Vec<f64> = (start..end)
                .map(|i| (1.0 - ((i as f64 - centre + 0.5) / filter_scale).abs()).max(0.0))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = if total > 0.0 {
                raw.iter().map(|w| (w / total) as f32).collect()
            } else {
                vec![1.0 / raw.len() as f32; raw.len()]
            };
            Footprint { start, weights }
        })
        .collect()
}

/// Resizes with PIL's antialiased bilinear filter (see the module docs):
/// a horizontal then a vertical pass, in `f32`, rounded to `u8` once.
///
/// # Panics
/// If `out` has the wrong length or the source is empty.
pub fn resize_antialiased(src: &RgbImage, out_width: usize, out_height: usize, out: &mut [u8]) {
    assert_eq!(out.len(), out_width * out_height * 3, "output buffer size");
    assert!(src.width > 0 && src.height > 0, "empty source image");
    let (xs, ys) = (
        footprints(src.width, out_width),
        footprints(src.height, out_height),
    );
    let (row_len, out_row_len) = (src.width * 3, out_width * 3);
    let mut horizontal = vec![0f32; src.height * out_row_len];
    for (source, dst) in src
        .pixels
        .chunks_exact(row_len)
        .zip(horizontal.chunks_exact_mut(out_row_len))
    {
        for (fx, o) in xs.iter().zip(dst.chunks_exact_mut(3)) {
            for (k, &w) in fx.weights.iter().enumerate() {
                let p = &source[(fx.start + k) * 3..][..3];
                for c in 0..3 {
                    o[c] += w * f32::from(p[c]);
                }
            }
        }
    }
    for (fy, out_row) in ys.iter().zip(out.chunks_exact_mut(out_row_len)) {
        let mut acc = vec![0f32; out_row_len];
        for (k, &w) in fy.weights.iter().enumerate() {
            let row = &horizontal[(fy.start + k) * out_row_len..][..out_row_len];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += w * v;
            }
        }
        for (o, a) in out_row.iter_mut().zip(acc) {
            *o = round_to_u8(a.clamp(0.0, 255.0));
        }
    }
}

/// The image at `path` (any format [`decode_image_rgb`] reads) decoded and
/// resized to `size` × `size` (HWC `u8`) with `resize`, as the cache holds
/// its images.
pub fn read_resized(path: &std::path::Path, size: usize, resize: Resize) -> crate::Result<Vec<u8>> {
    use crate::error::IoContext;
    let bytes = std::fs::read(path).at(path)?;
    let image = decode_image_rgb(&bytes, DecodeLimits::default()).map_err(|reason| {
        crate::Error::BadImage {
            path: path.to_path_buf(),
            reason,
        }
    })?;
    let mut out = vec![0u8; size * size * 3];
    resize.apply(&image, size, size, &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `step`-th `f32` from 0 to 255 (bit patterns are ordered like
    /// the values for positive floats) rounds as the saturating `as u8`
    /// form did, half up; run with step 1 it covers all 1.1e9 of them.
    fn rounds_like_the_saturating_form(step: usize) {
        let reference = |v: f32| {
            let floor = v as u8;
            floor + u8::from(v - f32::from(floor) >= 0.5)
        };
        let last = 255f32.to_bits();
        for bits in (0..=last).step_by(step).chain([last]) {
            let v = f32::from_bits(bits);
            assert_eq!(round_to_u8(v), reference(v), "{v}");
        }
        for k in 0..255u16 {
            let half = f32::from(k) + 0.5;
            for v in [half, f32::from_bits(half.to_bits() - 1)] {
                assert_eq!(round_to_u8(v), reference(v), "{v}");
            }
        }
        assert_eq!(round_to_u8(f32::NAN), 0);
    }

    #[test]
    fn rounding_is_half_up_as_before() {
        rounds_like_the_saturating_form(61);
    }

    fn image(width: usize, height: usize, f: impl Fn(usize, usize, usize) -> u8) -> RgbImage {
        let mut pixels = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                for c in 0..3 {
                    pixels.push(f(x, y, c));
                }
            }
        }
        RgbImage {
            width,
            height,
            pixels,
        }
    }

    #[test]
    fn identity_size_is_a_copy() {
        let src = image(7, 5, |x, y, c| (x * 31 + y * 7 + c * 50) as u8);
        let mut out = vec![0; 7 * 5 * 3];
        resize_bilinear(&src, 7, 5, &mut out);
        assert_eq!(out, src.pixels);
    }

    #[test]
    fn constant_image_stays_constant() {
        let src = image(13, 4, |_, _, c| [10, 128, 250][c]);
        let mut out = vec![0; 6 * 9 * 3];
        resize_bilinear(&src, 6, 9, &mut out);
        assert!(out.chunks(3).all(|p| p == [10, 128, 250]));
    }

    /// Reference values from PyTorch 2.9.0, whose
    /// `F.interpolate(t, size, mode="bilinear", align_corners=False)` is the
    /// kernel of `tf.image.resize(..., "bilinear")`, rounded to u8. The 7×5
    /// source is `(13 x² + 29 y) mod 256`; one target enlarges the width and
    /// shrinks the height, the other the reverse.
    #[test]
    fn matches_pytorch_half_pixel_bilinear() {
        let src = image(7, 5, |x, y, _| ((13 * x * x + 29 * y) % 256) as u8);
        let check = |width: usize, height: usize, expected: &[u8]| {
            let mut out = vec![0; width * height * 3];
            resize_bilinear(&src, width, height, &mut out);
            let channel: Vec<u8> = out.chunks(3).map(|p| p[1]).collect();
            assert_eq!(channel, expected, "{width}x{height}");
        };
        check(
            9,
            4,
            &[
                4, 12, 34, 70, 121, 191, 134, 120, 216, 40, 49, 70, 106, 157, 153, 128, 125, 156,
                76, 85, 106, 143, 193, 65, 93, 107, 32, 112, 121, 143, 179, 229, 101, 129, 144, 68,
            ],
        );
        check(
            3,
            8,
            &[
                9, 117, 117, 21, 130, 129, 39, 148, 142, 58, 166, 107, 76, 184, 98, 94, 202, 117,
                112, 220, 135, 125, 233, 147,
            ],
        );
    }

    #[test]
    fn empty_bytes_are_rejected() {
        assert_eq!(
            decode_jpeg_rgb(&[], DecodeLimits::default()).unwrap_err(),
            "empty file"
        );
    }
}
