//! A feature run: detectors on the pretrained features of the training
//! images (k nearest neighbours, a Gaussian, per-class Gaussians), saved
//! with their scores and recorded like any run.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::data::{Prepared, Split};
use crate::error::{Error, Result};
use crate::features::{Backbone, EfficientNetLite, FEATURES, FeatureBank, file_features};
use crate::io::{read_f32s, write_f32s_atomic};
use crate::scoring::{
    Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, Scores, UnseenRow,
    detector_scores, files_ladder_scores, scored_detector, scored_images, timed,
};
use crate::stats::{Gaussian, knn_distances};
use crate::training::{
    CRATE_VERSION, LoadedRun, RUN_FILE, Record, RunHeader, RunSlot, read_run_record, run_key_of,
    write_run_record,
};

pub use crate::scoring::FeatureScore;

/// The ridge of every Gaussian's covariance, PaDiM's.
pub const DEFAULT_RIDGE: f64 = 0.01;

/// The normal images' features a detector is fitted on, as a run saves
/// them (little-endian `f32`, one row per image).
pub const TRAIN_FEATURES_FILE: &str = "train_features.f32";

/// `run.json` of a [`FeatureRun`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRecord {
    /// Its device is `cpu`: the detectors are fitted on the host.
    #[serde(flatten)]
    pub header: RunHeader,
    /// The feature bank's key (the dataset's files, input size, weights).
    pub bank_key: String,
    pub weights_sha256: String,
    /// The extractor's input side.
    pub input_size: usize,
    /// Neighbours of the kNN score.
    pub k: usize,
    /// Ridge of the Gaussian's covariance.
    pub ridge: f64,
    pub train_images: usize,
    /// Each score of the validation split's (normal) images.
    pub validation_knn: Vec<f64>,
    pub validation_mahalanobis: Vec<f64>,
    /// Seconds of the kNN's fit: the train and validation features
    /// gathered, the validation scores (`None` in older runs, which are
    /// fitted again).
    #[serde(default)]
    pub knn_fit_s: Option<f64>,
    /// Seconds of the Gaussian's fit: the features gathered, the Gaussian,
    /// the validation scores.
    #[serde(default)]
    pub gaussian_fit_s: Option<f64>,
}

/// The detectors on pretrained features, fitted on a split: the train
/// images' features (the kNN's neighbours, the Gaussian's sample) and each
/// score on the validation split, which calibrates its threshold at any
/// percentile. Lives in `runs/features-<key>/`, so `score --run` judges new
/// images with it.
#[derive(Debug, Clone)]
pub struct FeatureRun {
    pub dir: PathBuf,
    pub record: FeatureRecord,
    /// The network whose features it was fitted on.
    pub backbone: Backbone,
    train: Array2<f32>,
    gaussian: Gaussian,
}

impl FeatureRun {
    /// The run of `bank`'s features on `prepared`'s split under `runs_dir`:
    /// loaded when one with the same key exists, else fitted and saved.
    pub fn fit(
        runs_dir: &Path,
        bank: &FeatureBank,
        prepared: &Prepared,
        k: usize,
        ridge: f64,
    ) -> Result<Self> {
        let manifest = &prepared.manifest_sha256;
        let key = feature_key(&bank.key, k, ridge, manifest, CRATE_VERSION)?;
        let slot = RunSlot {
            kind: FeatureRecord::KIND,
            dir: runs_dir.join(format!("features-{key}")),
            key,
        };
        slot.finished_or_made(Self::load, || Self::fitted(&slot, bank, prepared, k, ridge))
    }

    /// Fits the detectors into `slot`'s folder and records the run.
    fn fitted(
        slot: &RunSlot,
        bank: &FeatureBank,
        prepared: &Prepared,
        k: usize,
        ridge: f64,
    ) -> Result<Self> {
        let manifest = &prepared.manifest;
        let paths = |split| {
            let rows = manifest.indices(split);
            bank.matrix(rows.iter().map(|&r| manifest.entries[r].path.as_str()))
        };
        let ((train, validation), gathered_s) =
            timed(|| Ok((paths(Split::Train)?, paths(Split::Validation)?)))?;
        let (validation_knn, knn_s) = timed(|| knn_distances(&train, &validation, k))?;
        let ((gaussian, validation_mahalanobis), gaussian_s) = timed(|| {
            let gaussian = Gaussian::fit(&train, ridge)?;
            let distances = gaussian.distances(&validation);
            Ok((gaussian, distances))
        })?;
        let record = FeatureRecord {
            header: slot.header(&prepared.manifest_sha256, "cpu".into()),
            bank_key: bank.key.clone(),
            weights_sha256: bank.backbone.weights_sha256().into(),
            input_size: bank.input_size,
            k,
            ridge,
            train_images: train.nrows(),
            validation_knn,
            validation_mahalanobis,
            knn_fit_s: Some(gathered_s + knn_s),
            gaussian_fit_s: Some(gathered_s + gaussian_s),
        };
        let dir = &slot.dir;
        prepared.record_in(dir)?;
        let values: Vec<f32> = train.iter().copied().collect();
        write_f32s_atomic(&dir.join(TRAIN_FEATURES_FILE), &values)?;
        write_run_record(dir, &record)?;
        Ok(Self {
            dir: dir.clone(),
            record,
            backbone: bank.backbone,
            train,
            gaussian,
        })
    }

    /// Loads the run in `dir` (its Gaussian refitted from the saved
    /// features).
    pub fn load(dir: &Path) -> Result<Self> {
        let record: FeatureRecord = read_run_record(dir)?;
        let n = record.train_images;
        let values = read_f32s(&dir.join(TRAIN_FEATURES_FILE), n * FEATURES)?;
        let train = Array2::from_shape_vec((n, FEATURES), values).expect("n·FEATURES values");
        let gaussian = Gaussian::fit(&train, record.ridge)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            backbone: Backbone::of_sha256(&record.weights_sha256)?,
            record,
            train,
            gaussian,
        })
    }

    /// Seconds `score`'s fit took when the run was fitted (0 for a run
    /// recorded without them).
    pub fn fit_seconds(&self, score: FeatureScore) -> f64 {
        match score {
            FeatureScore::Knn => self.record.knn_fit_s,
            FeatureScore::Mahalanobis => self.record.gaussian_fit_s,
        }
        .unwrap_or(0.0)
    }

    /// Which detector `score` makes of this run.
    pub fn id(&self, score: FeatureScore) -> DetectorId {
        match score {
            FeatureScore::Knn => DetectorId::Knn {
                backbone: self.backbone,
                k: self.record.k,
            },
            FeatureScore::Mahalanobis => DetectorId::Mahalanobis(self.backbone),
        }
    }

    /// `score` of each row of `features`.
    pub fn scores(&self, score: FeatureScore, features: &Array2<f32>) -> Result<Vec<f64>> {
        match score {
            FeatureScore::Knn => knn_distances(&self.train, features, self.record.k),
            FeatureScore::Mahalanobis => Ok(self.gaussian.distances(features)),
        }
    }

    /// The threshold of `score` at the `percentile`-th percentile of its
    /// validation scores.
    pub fn calibration(&self, score: FeatureScore, percentile: f64) -> Result<Calibration> {
        let validation = match score {
            FeatureScore::Knn => &self.record.validation_knn,
            FeatureScore::Mahalanobis => &self.record.validation_mahalanobis,
        };
        Calibration::of(validation, percentile)
    }

    /// The run judging image files by `score`, their features extracted by
    /// `extractor` (which must carry the run's weights).
    pub fn scorer<'a>(
        &'a self,
        extractor: &'a EfficientNetLite,
        score: FeatureScore,
    ) -> FeatureScorer<'a> {
        FeatureScorer {
            run: self,
            extractor,
            score,
            bank: None,
        }
    }

    /// Both detectors on the test split (`test`'s rows) and on `unseen`
    /// (the images outside the pool), their features from `bank`. Scores
    /// are cached in the run directory
    /// ([`crate::scoring::DETECTOR_SCORES_FILE`]) for the same images, with
    /// each score's seconds; each detector's seconds are the bank's
    /// extraction, its fit and its scoring, as recorded when each was
    /// computed.
    pub fn detectors(
        &self,
        bank: &FeatureBank,
        test: &Scores,
        unseen: &[UnseenRow],
    ) -> Result<Vec<DetectorScores>> {
        let wanted = scored_images(test, unseen);
        let (scored, [knn_s, mahalanobis_s]) = detector_scores(
            &self.dir,
            RUN_FILE,
            &wanted,
            |r: &FeatureScoredImage| (r.set.as_str(), r.path.as_str()),
            || {
                let (x, gathered_s) = timed(|| bank.matrix(wanted.iter().map(|&(_, path)| path)))?;
                let (knn, knn_s) = timed(|| self.scores(FeatureScore::Knn, &x))?;
                let (mahalanobis, mahalanobis_s) =
                    timed(|| self.scores(FeatureScore::Mahalanobis, &x))?;
                let rows = wanted
                    .iter()
                    .zip(knn.into_iter().zip(mahalanobis))
                    .map(|(&(set, path), (knn, mahalanobis))| FeatureScoredImage {
                        path: path.into(),
                        set: set.into(),
                        knn,
                        mahalanobis,
                    })
                    .collect();
                Ok((rows, [gathered_s + knn_s, gathered_s + mahalanobis_s]))
            },
        )?;
        let detector = |score: FeatureScore, value: fn(&FeatureScoredImage) -> f64, seconds| {
            let (id, seconds) = (
                self.id(score),
                bank.seconds + self.fit_seconds(score) + seconds,
            );
            scored_detector(id, true, (test, unseen), &scored, value, seconds)
        };
        let knn = DetectorScores {
            bank_bytes: Some((self.train.len() * size_of::<f32>()) as u64),
            ..detector(FeatureScore::Knn, |r| r.knn, knn_s)
        };
        let mahalanobis = detector(FeatureScore::Mahalanobis, |r| r.mahalanobis, mahalanobis_s);
        Ok(vec![knn, mahalanobis])
    }
}

impl Record for FeatureRecord {
    const KIND: &'static str = "features";

    fn header(&self) -> &RunHeader {
        &self.header
    }
}

impl LoadedRun for FeatureRun {
    fn header(&self) -> &RunHeader {
        &self.record.header
    }

    /// A run recorded without its fits' seconds is fitted again.
    fn complete(&self) -> bool {
        self.record.gaussian_fit_s.is_some()
    }
}

/// The key of the detectors with `k` neighbours and `ridge` on the
/// features of the bank of `bank_key`, fitted on the split of
/// `manifest_sha256`: [`run_key_of`] the JSON array of those and the crate
/// version.
fn feature_key(
    bank_key: &str,
    k: usize,
    ridge: f64,
    manifest_sha256: &str,
    crate_version: &str,
) -> Result<String> {
    run_key_of(&(bank_key, k, ridge, manifest_sha256, crate_version))
}

/// One image's scores by a [`FeatureRun`], as its
/// [`crate::scoring::DETECTOR_SCORES_FILE`] keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FeatureScoredImage {
    path: String,
    /// `test` or `unseen`.
    set: String,
    knn: f64,
    mahalanobis: f64,
}

/// A [`FeatureRun`] scoring image files by one score.
#[derive(Debug)]
pub struct FeatureScorer<'a> {
    run: &'a FeatureRun,
    extractor: &'a EfficientNetLite,
    score: FeatureScore,
    /// Features already extracted, which the ladder's scores read.
    bank: Option<&'a FeatureBank>,
}

impl<'a> FeatureScorer<'a> {
    /// The scorer reading the ladder's images' features from `bank` (the
    /// run's backbone at its input side) rather than extracting them again.
    pub fn with_bank(self, bank: &'a FeatureBank) -> Self {
        Self {
            bank: Some(bank),
            ..self
        }
    }
}

impl ImageScorer for FeatureScorer<'_> {
    fn id(&self) -> DetectorId {
        self.run.id(self.score)
    }

    fn pretrained(&self) -> bool {
        true
    }

    /// With a bank: [`FeatureRun::detectors`] (cached in the run
    /// directory); without, the files scored (their features extracted),
    /// the fit's seconds added.
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        let Some(bank) = self.bank else {
            let scored = files_ladder_scores(self, images, device)?;
            return Ok(DetectorScores {
                seconds: self.run.fit_seconds(self.score) + scored.seconds,
                ..scored
            });
        };
        if (bank.key.as_str(), bank.input_size)
            != (
                self.run.record.bank_key.as_str(),
                self.run.record.input_size,
            )
        {
            return Err(Error::InvalidParameter(format!(
                "the bank {} is not the one {} was fitted on ({})",
                bank.key,
                self.run.dir.display(),
                self.run.record.bank_key
            )));
        }
        let mut both = self.run.detectors(bank, &images.test, &images.unseen)?;
        Ok(both.swap_remove(match self.score {
            FeatureScore::Knn => 0,
            FeatureScore::Mahalanobis => 1,
        }))
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        if self.extractor.backbone() != self.run.backbone {
            return Err(Error::InvalidParameter(format!(
                "the run was fitted on {} features, the extractor is {}",
                self.run.backbone,
                self.extractor.backbone()
            )));
        }
        let size = self.run.record.input_size;
        let rows = file_features(self.extractor, paths, size, device, false)?;
        let features = Array2::from_shape_vec((rows.len(), FEATURES), rows.concat())
            .expect("FEATURES values per file");
        self.run.scores(self.score, &features)
    }

    fn calibration(&self, percentile: f64, _: &Device) -> Result<Calibration> {
        self.run.calibration(self.score, percentile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finished runs are found by their key: fixed settings key as they
    /// did before the run header (which never enters the key).
    #[test]
    fn the_run_key_is_pinned() {
        let manifest = "0123456789abcdef".repeat(4);
        let key = feature_key("bank-0123456789abcdef", 5, 0.01, &manifest, "0.2.0").unwrap();
        assert_eq!(key, "e9ae24066492a42c");
    }
}
