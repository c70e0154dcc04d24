//! The geometric transformations the self-supervised detector predicts:
//! the four quarter-turns, optionally each combined with one of nine
//! translations (Golan & El-Yaniv 2018; Hendrycks et al. 2019).
//!
//! A transformation maps an S×S image to an S×S image: first a translation
//! by `(dx, dy)` pixels with the border reflected (scipy's `reflect`, as
//! Golan & El-Yaniv's code shifts), then `quarter_turns` rotations by 90°
//! counter-clockwise (numpy's `rot90`). Transformation `i` of a
//! [`Transformations`] set is rotation `i mod 4` and translation `i div 4`,
//! so indices 0-3 are the pure rotations in every set.

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// One transformation: a translation, then quarter-turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transformation {
    /// Counter-clockwise quarter-turns, `0..4`.
    pub quarter_turns: usize,
    /// Rightward shift, pixels.
    pub dx: isize,
    /// Downward shift, pixels.
    pub dy: isize,
}

impl Transformation {
    /// The identity.
    pub const IDENTITY: Self = Self {
        quarter_turns: 0,
        dx: 0,
        dy: 0,
    };

    /// Where pixel `(x, y)` (column, row) of the transformed `s`×`s` image
    /// takes its value from in the original.
    pub fn source(self, x: usize, y: usize, s: usize) -> (usize, usize) {
        // Undo the rotations: output (x, y) of one counter-clockwise turn is
        // input (s − 1 − y, x).
        let (mut u, mut v) = (x, y);
        for _ in 0..self.quarter_turns % 4 {
            (u, v) = (s - 1 - v, u);
        }
        (
            reflect(u as isize - self.dx, s),
            reflect(v as isize - self.dy, s),
        )
    }

    /// Applies the transformation to one `s`×`s` image of planes (CHW, any
    /// number of channels), writing the result into `dst`.
    ///
    /// # Panics
    /// If `src` or `dst` is not a whole number of `s`×`s` planes of the
    /// same length.
    pub fn apply_planes<T: Copy>(self, src: &[T], s: usize, dst: &mut [T]) {
        let plane = s * s;
        assert!(
            src.len() == dst.len() && src.len().is_multiple_of(plane),
            "{} and {} values are not planes of {s}×{s}",
            src.len(),
            dst.len()
        );
        let sources: Vec<usize> = (0..plane)
            .map(|p| {
                let (x, y) = self.source(p % s, p / s, s);
                y * s + x
            })
            .collect();
        for (from, to) in src.chunks_exact(plane).zip(dst.chunks_exact_mut(plane)) {
            for (d, &i) in to.iter_mut().zip(&sources) {
                *d = from[i];
            }
        }
    }

    /// Applies the transformation to one `s`×`s` image of interleaved
    /// pixels (HWC, `channels` values each, as the image cache holds them).
    ///
    /// # Panics
    /// If `src` or `dst` does not hold `s · s · channels` values.
    pub fn apply_interleaved<T: Copy>(self, src: &[T], s: usize, channels: usize, dst: &mut [T]) {
        assert!(
            src.len() == s * s * channels && dst.len() == src.len(),
            "an {s}×{s}×{channels} image"
        );
        for y in 0..s {
            for x in 0..s {
                let (u, v) = self.source(x, y, s);
                let (to, from) = ((y * s + x) * channels, (v * s + u) * channels);
                dst[to..to + channels].copy_from_slice(&src[from..from + channels]);
            }
        }
    }
}

/// Mirrors one `s`×`s` image of planes (CHW) left to right, in place: an
/// upright object stays upright, so a mirrored copy is another normal
/// image with the same transformations to tell.
pub fn mirror_planes<T>(image: &mut [T], s: usize) {
    for row in image.chunks_exact_mut(s) {
        row.reverse();
    }
}

/// Index `i` reflected into `0..s` about the half-sample edges
/// (`d c b a | a b c d | d c b a`).
fn reflect(i: isize, s: usize) -> usize {
    let period = 2 * s as isize;
    let i = i.rem_euclid(period);
    if i < s as isize {
        i as usize
    } else {
        (period - 1 - i) as usize
    }
}

/// The transformations a detector predicts: the four quarter-turns, each
/// with every translation by `−shift, 0, +shift` pixels along each axis
/// when `shift > 0` (36 in all), else alone (4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transformations {
    shift: usize,
}

impl Transformations {
    /// The four quarter-turns alone.
    pub const ROTATIONS: Self = Self { shift: 0 };

    /// The quarter-turns, each with the nine translations by `shift`
    /// pixels (none when `shift` is 0).
    pub fn new(shift: usize) -> Self {
        Self { shift }
    }

    /// The set whose translations are `fraction` of an `image_size` side,
    /// rounded to whole pixels; errors for a fraction outside `[0, 0.5)`.
    pub fn of_fraction(fraction: f64, image_size: usize) -> Result<Self> {
        if !(0.0..0.5).contains(&fraction) {
            return Err(Error::InvalidParameter(format!(
                "translation {fraction} must be within [0, 0.5) of the image side"
            )));
        }
        Ok(Self::new((fraction * image_size as f64).round() as usize))
    }

    /// The translation in pixels (0: rotations only).
    pub fn shift(self) -> usize {
        self.shift
    }

    /// The translations, index `t` being `(dx, dy)` with `dx` varying
    /// fastest; the identity `(0, 0)` is index 0.
    fn translations(self) -> Vec<(isize, isize)> {
        if self.shift == 0 {
            return vec![(0, 0)];
        }
        let s = self.shift as isize;
        let steps = [0, -s, s];
        steps
            .iter()
            .flat_map(|&dy| steps.iter().map(move |&dx| (dx, dy)))
            .collect()
    }

    /// How many translations each rotation is combined with (1 or 9).
    pub fn translation_count(self) -> usize {
        if self.shift == 0 { 1 } else { 9 }
    }

    /// How many transformations: the classifier's classes.
    pub fn len(self) -> usize {
        4 * self.translation_count()
    }

    /// Never empty: at least the four rotations.
    pub fn is_empty(self) -> bool {
        false
    }

    /// Transformation `index`: rotation `index mod 4`, translation
    /// `index div 4`.
    ///
    /// # Panics
    /// If `index >= self.len()`.
    pub fn get(self, index: usize) -> Transformation {
        assert!(
            index < self.len(),
            "transformation {index} of {}",
            self.len()
        );
        let (dx, dy) = self.translations()[index / 4];
        Transformation {
            quarter_turns: index % 4,
            dx,
            dy,
        }
    }

    /// The index of `t` in this set, if it is one of them.
    pub fn index_of(self, t: Transformation) -> Option<usize> {
        let translation = self
            .translations()
            .iter()
            .position(|&d| d == (t.dx, t.dy))?;
        (t.quarter_turns < 4).then_some(4 * translation + t.quarter_turns)
    }

    /// Every transformation, in index order.
    pub fn all(self) -> Vec<Transformation> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }

    /// A short description, as the detector's label says it
    /// ([`crate::scoring::DetectorId::Geometric`]).
    pub fn describe(self) -> String {
        crate::scoring::DetectorId::transformation_words(self.shift)
    }
}

/// Copies of `images` (`n` images of `[3, s, s]`, CHW), copy `k` of image
/// `i` transformed by `transforms[i][k]`, as one batch in image-major
/// order.
///
/// # Shapes
/// - `images`: `n · 3 · s · s` values
/// - output: `[n · m, 3, s, s]`, `m` transformations per image
///
/// # Panics
/// If `transforms` does not hold `n` lists of one length `m`.
pub fn transformed_batch(
    images: &[f32],
    s: usize,
    transforms: &[Vec<Transformation>],
    device: &Device,
) -> Tensor<4> {
    let image_len = 3 * s * s;
    assert_eq!(images.len(), transforms.len() * image_len, "n images");
    let m = transforms.first().map_or(0, Vec::len);
    assert!(transforms.iter().all(|t| t.len() == m), "m per image");
    let mut values = vec![0f32; images.len() * m];
    for ((image, list), out) in images
        .chunks_exact(image_len)
        .zip(transforms)
        .zip(values.chunks_exact_mut(image_len * m.max(1)))
    {
        for (t, dst) in list.iter().zip(out.chunks_exact_mut(image_len)) {
            t.apply_planes(image, s, dst);
        }
    }
    let n = transforms.len() * m;
    Tensor::from_data(TensorData::new(values, [n, 3, s, s]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_repeats_the_edge_sample_then_mirrors() {
        let got: Vec<usize> = (-3..7).map(|i| reflect(i, 4)).collect();
        assert_eq!(got, [2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
    }

    #[test]
    fn one_turn_is_numpys_rot90() {
        // [[1, 2], [3, 4]] → np.rot90 → [[2, 4], [1, 3]].
        let mut out = [0u8; 4];
        let turn = Transformation {
            quarter_turns: 1,
            ..Transformation::IDENTITY
        };
        turn.apply_planes(&[1, 2, 3, 4], 2, &mut out);
        assert_eq!(out, [2, 4, 1, 3]);
    }

    #[test]
    fn a_shift_moves_content_right_and_down_with_the_border_reflected() {
        // Row 0 of a 3×3 image shifted right by 1: [a, a, b].
        let src: Vec<u8> = (0..9).collect();
        let mut out = [0u8; 9];
        let t = Transformation {
            quarter_turns: 0,
            dx: 1,
            dy: 0,
        };
        t.apply_planes(&src, 3, &mut out);
        assert_eq!(&out[..3], &[0, 0, 1]);
        let down = Transformation {
            quarter_turns: 0,
            dx: 0,
            dy: 1,
        };
        down.apply_planes(&src, 3, &mut out);
        assert_eq!(&out[..6], &[0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn mirroring_reverses_every_row_of_every_plane() {
        let mut image: Vec<u8> = (0..8).collect();
        mirror_planes(&mut image, 2);
        assert_eq!(image, [1, 0, 3, 2, 5, 4, 7, 6]);
    }

    #[test]
    fn planes_and_interleaved_agree() {
        let s = 5;
        let hwc: Vec<u16> = (0..(s * s * 3) as u16).collect();
        let to_chw = |x: &[u16]| -> Vec<u16> {
            (0..3)
                .flat_map(|c| (0..s * s).map(move |p| x[p * 3 + c]))
                .collect()
        };
        let chw = to_chw(&hwc);
        for t in Transformations::new(2).all() {
            let (mut a, mut b) = (vec![0; hwc.len()], vec![0; chw.len()]);
            t.apply_interleaved(&hwc, s, 3, &mut a);
            t.apply_planes(&chw, s, &mut b);
            assert_eq!(to_chw(&a), b, "{t:?}");
        }
    }
}
