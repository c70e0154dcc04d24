//! Beyond the report: other anomaly scores on the same test split.
//!
//! The report scores an image by its mean squared reconstruction error. An
//! object that differs from the training images in one region raises only
//! part of the error map, which the mean dilutes; [`Aggregation`] offers two
//! scores that look at the worst region instead. The trivial baselines
//! ([`pca_reconstruction_scores`], [`compression_scores`]) use no neural
//! network at all: whatever AUROC they reach, the autoencoder must beat to
//! show that it adds something.

use std::fmt;
use std::io::Write;
use std::time::Instant;

use flate2::Compression;
use flate2::write::DeflateEncoder;
use linfa::DatasetBase;
use linfa::traits::{Fit, Predict};
use linfa_reduction::Pca;
use ndarray::Array2;
use polars::prelude::{DataFrame, PolarsResult};
use serde::Serialize;

use crate::analysis::Bootstrap;
use crate::autoencoder::ErrorMap;
use crate::data::image::{RgbImage, resize_bilinear};
use crate::data::{ImageCache, Prepared, Split};
use crate::error::{Error, Result};
use crate::io::column;
use crate::scoring::{Scores, TrivialKind};
use crate::stats::{ConfidenceInterval, auprc, auroc, bootstrap_ci};

/// How an S×S per-pixel error map becomes one score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Aggregation {
    /// The report's score: the mean over all pixels (the per-image MSE).
    Mean,
    /// The mean of the largest `fraction` of pixel errors, `fraction` in
    /// `(0, 1]`.
    TopFraction(f64),
    /// The largest value of the map after a (2r+1)×(2r+1) box filter: the
    /// worst region, not the worst single pixel.
    SmoothedMax { radius: usize },
}

impl Aggregation {
    /// The options compared by `reproduce` for images of side `size`: the
    /// mean, the top 1 % and 10 %, and a smoothed maximum whose window
    /// spans about 1/16 of the side.
    pub fn defaults_for(size: usize) -> Vec<Aggregation> {
        vec![
            Aggregation::Mean,
            Aggregation::TopFraction(0.01),
            Aggregation::TopFraction(0.10),
            Aggregation::SmoothedMax {
                radius: (size / 32).max(1),
            },
        ]
    }

    /// Errors on a fraction outside `(0, 1]`.
    pub fn check(&self) -> Result<()> {
        match *self {
            Aggregation::TopFraction(f) if !(f > 0.0 && f <= 1.0) => Err(Error::InvalidParameter(
                format!("top fraction {f} is outside (0, 1]"),
            )),
            _ => Ok(()),
        }
    }

    /// The score of one `size`×`size` error map.
    ///
    /// ```
    /// use caltech_anomaly::analysis::Aggregation;
    /// let map = [0.0, 0.0, 0.0, 4.0];
    /// assert_eq!(Aggregation::Mean.apply(&map, 2), 1.0);
    /// assert_eq!(Aggregation::TopFraction(0.25).apply(&map, 2), 4.0);
    /// // The 3×3 window around any pixel of a 2×2 map covers all four.
    /// assert_eq!(Aggregation::SmoothedMax { radius: 1 }.apply(&map, 2), 1.0);
    /// ```
    pub fn apply(&self, map: &[f32], size: usize) -> f64 {
        assert_eq!(map.len(), size * size, "an S×S map");
        match *self {
            Aggregation::Mean => map.iter().map(|&v| f64::from(v)).sum::<f64>() / map.len() as f64,
            Aggregation::TopFraction(fraction) => {
                let k = ((fraction * map.len() as f64).ceil() as usize).clamp(1, map.len());
                let mut values = map.to_vec();
                values.select_nth_unstable_by(map.len() - k, |a, b| a.total_cmp(b));
                values[map.len() - k..]
                    .iter()
                    .map(|&v| f64::from(v))
                    .sum::<f64>()
                    / k as f64
            }
            Aggregation::SmoothedMax { radius } => smoothed_max(map, size, radius),
        }
    }
}

impl fmt::Display for Aggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aggregation::Mean => write!(f, "mean (MSE, the report's score)"),
            Aggregation::TopFraction(fraction) => {
                write!(f, "mean of the top {}% pixel errors", fraction * 100.0)
            }
            Aggregation::SmoothedMax { radius } => write!(
                f,
                "max of the {0}x{0} box-smoothed error map",
                2 * radius + 1
            ),
        }
    }
}

/// The maximum of the box-filtered map, windows clipped at the border
/// (each averages the pixels it covers). A summed-area table makes each
/// window O(1).
fn smoothed_max(map: &[f32], size: usize, radius: usize) -> f64 {
    let stride = size + 1;
    let mut integral = vec![0f64; stride * stride];
    for y in 0..size {
        let mut row_sum = 0.0;
        for x in 0..size {
            row_sum += f64::from(map[y * size + x]);
            integral[(y + 1) * stride + x + 1] = integral[y * stride + x + 1] + row_sum;
        }
    }
    let mut best = f64::NEG_INFINITY;
    for y in 0..size {
        let (y0, y1) = (y.saturating_sub(radius), (y + radius + 1).min(size));
        for x in 0..size {
            let (x0, x1) = (x.saturating_sub(radius), (x + radius + 1).min(size));
            let sum = integral[y1 * stride + x1]
                - integral[y0 * stride + x1]
                - integral[y1 * stride + x0]
                + integral[y0 * stride + x0];
            best = best.max(sum / ((y1 - y0) * (x1 - x0)) as f64);
        }
    }
    best
}

/// One anomaly score's detection quality on the test split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreQuality {
    pub score: String,
    pub auroc: ConfidenceInterval,
    pub auprc: f64,
}

impl ScoreQuality {
    /// AUROC with a seeded bootstrap interval and AUPRC of `scores`.
    pub fn measure(
        name: impl Into<String>,
        scores: &[f64],
        positive: &[bool],
        resamples: usize,
        seed: u64,
    ) -> Result<Self> {
        Ok(Self {
            score: name.into(),
            auroc: bootstrap_ci(scores, positive, auroc, resamples, seed, 0.95)?,
            auprc: auprc(scores, positive),
        })
    }
}

/// The quality of each aggregation of the same error maps.
pub fn compare_aggregations(
    maps: &[ErrorMap],
    positive: &[bool],
    options: &[Aggregation],
    resamples: usize,
    seed: u64,
) -> Result<Vec<ScoreQuality>> {
    if maps.len() != positive.len() {
        return Err(Error::InvalidParameter(format!(
            "{} error maps but {} labels",
            maps.len(),
            positive.len()
        )));
    }
    options
        .iter()
        .map(|option| {
            option.check()?;
            let scores: Vec<f64> = maps
                .iter()
                .map(|m| option.apply(&m.error, m.size))
                .collect();
            ScoreQuality::measure(option.to_string(), &scores, positive, resamples, seed)
        })
        .collect()
}

/// Flattens cache rows to `side`×`side`×3 values in [0, 1] (bilinear, as
/// the cache itself was made).
fn flattened(cache: &ImageCache, rows: &[usize], side: usize) -> Array2<f64> {
    let s = cache.size();
    let mut out = Array2::zeros((rows.len(), side * side * 3));
    let mut small = vec![0u8; side * side * 3];
    for (i, &row) in rows.iter().enumerate() {
        let image = RgbImage {
            width: s,
            height: s,
            pixels: cache.image(row).to_vec(),
        };
        resize_bilinear(&image, side, side, &mut small);
        for (o, &v) in out.row_mut(i).iter_mut().zip(&small) {
            *o = f64::from(v) / 255.0;
        }
    }
    out
}

/// Trivial baseline 1: the reconstruction error of a linear autoencoder.
///
/// PCA with `components` components is fitted (linfa-reduction) on the
/// flattened `fit_rows` (the train split: normal images only), downsampled
/// to `side`×`side` to keep the fit cheap; each of `score_rows` is scored by
/// the mean squared error of its projection back to image space.
pub fn pca_reconstruction_scores(
    cache: &ImageCache,
    fit_rows: &[usize],
    score_rows: &[usize],
    side: usize,
    components: usize,
) -> Result<Vec<f64>> {
    if side == 0 || side > cache.size() {
        return Err(Error::InvalidParameter(format!(
            "PCA side {side} must lie in 1..={}",
            cache.size()
        )));
    }
    if components == 0 || components >= fit_rows.len() {
        return Err(Error::InvalidParameter(format!(
            "PCA with {components} components needs more than {components} fitting images, \
             got {}",
            fit_rows.len()
        )));
    }
    let fit = DatasetBase::from(flattened(cache, fit_rows, side));
    let pca = Pca::params(components)
        .fit(&fit)
        .map_err(|e| Error::InvalidParameter(format!("PCA failed: {e}")))?;
    let test = flattened(cache, score_rows, side);
    let codes: Array2<f64> = pca.predict(&test);
    let reconstructed = pca.inverse_transform(codes);
    Ok((&test - &reconstructed)
        .rows()
        .into_iter()
        .map(|r| r.mapv(|v| v * v).mean().unwrap_or(0.0))
        .collect())
}

/// Trivial baseline 2: image complexity, as DEFLATE-compressed bytes per
/// pixel of the preprocessed image. Cluttered scenes compress worse than a
/// centred object on a plain background.
pub fn compression_scores(cache: &ImageCache, rows: &[usize]) -> Vec<f64> {
    let pixels = (cache.size() * cache.size()) as f64;
    rows.iter()
        .map(|&row| {
            let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
            encoder
                .write_all(cache.image(row))
                .expect("writing to a Vec cannot fail");
            let compressed = encoder.finish().expect("writing to a Vec cannot fail");
            compressed.len() as f64 / pixels
        })
        .collect()
}

/// A score of the test images computed without a neural network.
#[derive(Debug, Clone, PartialEq)]
pub struct TrivialScore {
    pub name: String,
    /// Which score: its id's label is short enough for a legend.
    pub kind: TrivialKind,
    /// One value per test image, in test order.
    pub values: Vec<f64>,
    pub seconds: f64,
}

/// The two trivial baselines on the test images: PCA fitted on the train
/// split (32 components at up to 32×32 px) and the compression score.
pub fn trivial_scores(prepared: &Prepared) -> Result<Vec<TrivialScore>> {
    let cache = &prepared.cache;
    let test = prepared.manifest.indices(Split::Test);
    let train = prepared.manifest.indices(Split::Train);
    let side = cache.size().min(32);
    let components = 32.min(train.len().saturating_sub(1)).max(1);
    let started = Instant::now();
    let pca = pca_reconstruction_scores(cache, &train, &test, side, components)?;
    let pca_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let deflate = compression_scores(cache, &test);
    Ok(vec![
        TrivialScore {
            name: format!(
                "PCA ({components} components, {side}x{side} px, fitted on train) reconstruction MSE"
            ),
            kind: TrivialKind::PcaReconstruction,
            values: pca,
            seconds: pca_s,
        },
        TrivialScore {
            name: "DEFLATE bytes per pixel (image complexity)".into(),
            kind: TrivialKind::DeflateBytes,
            values: deflate,
            seconds: started.elapsed().as_secs_f64(),
        },
    ])
}

/// The autoencoder's test error (`scores`, of the model named `model`)
/// beside `trivial` (from [`trivial_scores`]) on the same test images.
pub fn trivial_baselines(
    model: &str,
    scores: &Scores,
    trivial: &[TrivialScore],
    bootstrap: Bootstrap,
) -> Result<Vec<ScoreQuality>> {
    let labels = scores.held_out_flags();
    let measure = |name: String, values: &[f64]| {
        ScoreQuality::measure(name, values, &labels, bootstrap.resamples, bootstrap.seed)
    };
    let mut rows = vec![measure(
        format!("autoencoder ({model}) reconstruction MSE"),
        &scores.scores(),
    )?];
    for score in trivial {
        rows.push(measure(score.name.clone(), &score.values)?);
    }
    Ok(rows)
}

/// Scores and their quality as a table.
pub fn quality_dataframe(rows: &[ScoreQuality]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("score", rows, |r| r.score.as_str()),
        column("auroc", rows, |r| r.auroc.estimate),
        column("auroc_low", rows, |r| r.auroc.low),
        column("auroc_high", rows, |r| r.auroc.high),
        column("auprc", rows, |r| r.auprc),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;

    #[test]
    fn top_fraction_averages_the_largest_values() {
        let map: Vec<f32> = (0..16).map(|v| v as f32).collect();
        // Top 25 % of 16 values: 12, 13, 14, 15.
        assert_abs_diff_eq!(Aggregation::TopFraction(0.25).apply(&map, 4), 13.5);
        // A fraction of one is the mean.
        assert_abs_diff_eq!(
            Aggregation::TopFraction(1.0).apply(&map, 4),
            Aggregation::Mean.apply(&map, 4)
        );
        // Any positive fraction keeps at least one pixel.
        assert_abs_diff_eq!(Aggregation::TopFraction(1e-9).apply(&map, 4), 15.0);
    }

    #[test]
    fn smoothed_max_matches_a_direct_window_sum() {
        let size = 7;
        let map: Vec<f32> = (0..size * size)
            .map(|i| ((i * 37) % 11) as f32 / 10.0)
            .collect();
        for radius in 0..4 {
            let mut direct = f64::NEG_INFINITY;
            for y in 0..size as isize {
                for x in 0..size as isize {
                    let (mut sum, mut n) = (0.0, 0);
                    for dy in -(radius as isize)..=radius as isize {
                        for dx in -(radius as isize)..=radius as isize {
                            let (yy, xx) = (y + dy, x + dx);
                            if (0..size as isize).contains(&yy) && (0..size as isize).contains(&xx)
                            {
                                sum += f64::from(map[yy as usize * size + xx as usize]);
                                n += 1;
                            }
                        }
                    }
                    direct = direct.max(sum / f64::from(n));
                }
            }
            assert_abs_diff_eq!(
                Aggregation::SmoothedMax { radius }.apply(&map, size),
                direct,
                epsilon = 1e-9
            );
        }
        // Radius 0 is the plain maximum.
        assert_abs_diff_eq!(
            Aggregation::SmoothedMax { radius: 0 }.apply(&map, size),
            1.0,
            epsilon = 1e-6
        );
    }

    #[test]
    fn a_local_defect_raises_the_region_scores_more_than_the_mean() {
        let size = 32;
        let mut clean = vec![0.01f32; size * size];
        let mut defect = clean.clone();
        for y in 10..14 {
            for x in 10..14 {
                defect[y * size + x] = 0.5;
            }
        }
        // Same mean for both maps, one spread out, one local.
        let extra = (0.49 * 16.0) / (size * size) as f32;
        clean.iter_mut().for_each(|v| *v += extra);
        let mean_gap =
            Aggregation::Mean.apply(&defect, size) - Aggregation::Mean.apply(&clean, size);
        assert!(mean_gap.abs() < 1e-6);
        for option in [
            Aggregation::TopFraction(0.01),
            Aggregation::SmoothedMax { radius: 1 },
        ] {
            assert!(option.apply(&defect, size) > 10.0 * option.apply(&clean, size));
        }
    }

    #[test]
    fn bad_fractions_are_rejected() {
        for f in [0.0, -0.1, 1.5, f64::NAN] {
            assert!(Aggregation::TopFraction(f).check().is_err());
        }
        assert!(Aggregation::TopFraction(0.5).check().is_ok());
    }
}
