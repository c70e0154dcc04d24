//! The one detector contract, [`ImageScorer`]: what every saved detector
//! offers to judge new images and to go on the ladder, and the [`Calibration`] of its threshold
//! on normal validation images.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::scoring::{
    DetectorId, DetectorScores, Localiser, Scores, UnseenRow, scored_detector, scored_images,
};
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

/// The images the ladder compares detectors on: the study's test split
/// (`test`'s rows, in order) and every image outside the pool
/// (`unseen`'s), their files under `data_dir`.
#[derive(Debug, Clone, PartialEq)]
pub struct LadderImages {
    pub data_dir: PathBuf,
    pub test: Scores,
    pub unseen: Vec<UnseenRow>,
    pub show_progress: bool,
}

/// The detector contract: a detector that judges image files, an
/// autoencoder's error, a classifier's score or a score on pretrained
/// features (higher is more anomalous for each), calibrated on its
/// validation scores. `crate::analysis::SavedDetector` loads any of them from
/// a run directory by the run's kind; `score --run`, the notebooks' verdicts
/// and the ladder all go through it.
pub trait ImageScorer {
    /// Which detector; `id().label()` is its name on the ladder.
    fn id(&self) -> DetectorId;
    /// Whether it uses ImageNet-pretrained weights.
    fn pretrained(&self) -> bool;
    /// The score of each file, in order, the files decoded and resized as
    /// the detector's training images were.
    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>>;
    /// The threshold at the `percentile`-th percentile of the detector's
    /// validation scores (normal images only), from what its run saved.
    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration>;

    /// Its scores of the ladder's images. By default every file is decoded
    /// and scored ([`Self::score_files`]); a detector whose run keeps these
    /// scores, or that scores the study's cached images faster, overrides
    /// it with the same result, and adds its fit to the seconds
    /// ([`DetectorScores::seconds`]).
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        files_ladder_scores(self, images, device)
    }

    /// Its maps of where in an image it finds the anomaly, for a detector
    /// that localises (PatchCore); `None` for one that scores whole images.
    fn localiser(&self) -> Option<&dyn Localiser> {
        None
    }
}

/// [`ImageScorer::ladder_scores`] by scoring every file: the default, and
/// what an override falls back on. Its seconds are the scoring's alone:
/// the contract knows nothing of a fit.
pub fn files_ladder_scores<S: ImageScorer + ?Sized>(
    scorer: &S,
    images: &LadderImages,
    device: &Device,
) -> Result<DetectorScores> {
    let started = Instant::now();
    let wanted = scored_images(&images.test, &images.unseen);
    let files: Vec<PathBuf> = wanted
        .iter()
        .map(|(_, p)| images.data_dir.join(p))
        .collect();
    let values = scorer.score_files(&files, device)?;
    let seconds = started.elapsed().as_secs_f64();
    let scored = (&images.test, images.unseen.as_slice());
    let (id, pretrained) = (scorer.id(), scorer.pretrained());
    Ok(scored_detector(
        id,
        pretrained,
        scored,
        &values,
        |&v| v,
        seconds,
    ))
}

impl<T: ImageScorer + ?Sized> ImageScorer for &T {
    fn id(&self) -> DetectorId {
        (**self).id()
    }

    fn pretrained(&self) -> bool {
        (**self).pretrained()
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        (**self).score_files(paths, device)
    }

    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration> {
        (**self).calibration(percentile, device)
    }

    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        (**self).ladder_scores(images, device)
    }

    fn localiser(&self) -> Option<&dyn Localiser> {
        (**self).localiser()
    }
}
