//! The one detector contract, [`ImageScorer`]: what every saved detector
//! (autoencoder, classifier, feature run) offers to judge new images, and
//! the [`Calibration`] of its threshold on normal validation images.

use std::path::PathBuf;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::stats::percentile;

/// The report's operating point: its confusion matrix, PCA marks, sorted
/// errors and model rates are at the 80th test percentile.
pub const REPORT_PERCENTILE: f64 = 80.0;

/// A run's operating threshold, calibrated on normal images only: the
/// `percentile`-th percentile of its validation errors, whose expected
/// false-positive rate is `1 − percentile / 100`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub percentile: f64,
    pub threshold: f64,
}

impl Calibration {
    /// The `percentile`-th percentile of a detector's scores on normal
    /// validation images.
    pub fn of(validation: &[f64], percentile: f64) -> Result<Self> {
        Ok(Self {
            percentile,
            threshold: self::percentile(validation, percentile)?,
        })
    }
}

/// The detector contract: a detector that judges image files, an
/// autoencoder's error, a classifier's score or a score on pretrained
/// features (higher is more anomalous for each), calibrated on its
/// validation scores. `crate::analysis::SavedDetector` loads any of them from
/// a run directory by the run's kind.
pub trait ImageScorer {
    /// The detector's name, as on the ladder.
    fn name(&self) -> String;
    /// The score of each file, in order, the files decoded and resized as
    /// the detector's training images were.
    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>>;
    /// The threshold at the `percentile`-th percentile of the detector's
    /// validation scores (normal images only), from what its run saved.
    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration>;
}

impl<T: ImageScorer + ?Sized> ImageScorer for &T {
    fn name(&self) -> String {
        (**self).name()
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        (**self).score_files(paths, device)
    }

    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration> {
        (**self).calibration(percentile, device)
    }
}
