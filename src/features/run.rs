//! A feature run: detectors on the pretrained features of the training
//! images (k nearest neighbours, a Gaussian, per-class Gaussians), saved
//! with their scores and recorded like any run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{Prepared, Split};
use crate::error::{Error, Result};
use crate::features::{Backbone, EfficientNetLite, FEATURES, FeatureBank, file_features};
use crate::io::{read_f32s, read_json, write_bytes_atomic, write_f32s_atomic};
use crate::scoring::{
    Calibration, DetectorScores, ImageScorer, LadderImages, Scores, UnseenRow, detector_scores,
    files_ladder_scores, scored_detector, scored_images,
};
use crate::stats::{Gaussian, hex, knn_distances};
use crate::training::{RUN_FILE, RunLock};

/// The ridge of every Gaussian's covariance, PaDiM's.
pub const DEFAULT_RIDGE: f64 = 0.01;

/// The normal images' features a detector is fitted on, as a run saves
/// them (little-endian `f32`, one row per image).
pub const TRAIN_FEATURES_FILE: &str = "train_features.f32";

/// Which score of the pretrained features judges an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureScore {
    Knn,
    Mahalanobis,
}

impl std::str::FromStr for FeatureScore {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "knn" => Ok(Self::Knn),
            "mahalanobis" => Ok(Self::Mahalanobis),
            other => Err(Error::InvalidParameter(format!(
                "a feature run scores by `knn` or `mahalanobis`, not `{other}`"
            ))),
        }
    }
}

/// `run.json` of a [`FeatureRun`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRecord {
    pub key: String,
    /// The feature bank's key (the dataset's files, input size, weights).
    pub bank_key: String,
    pub weights_sha256: String,
    /// The extractor's input side.
    pub input_size: usize,
    /// Neighbours of the kNN score.
    pub k: usize,
    /// Ridge of the Gaussian's covariance.
    pub ridge: f64,
    pub manifest_sha256: String,
    pub train_images: usize,
    /// Each score of the validation split's (normal) images.
    pub validation_knn: Vec<f64>,
    pub validation_mahalanobis: Vec<f64>,
    pub crate_version: String,
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
    /// Seconds the Gaussian's fit took in this process.
    gaussian_s: f64,
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
        let identity = serde_json::to_vec(&(
            &bank.key,
            k,
            ridge,
            &prepared.manifest_sha256,
            env!("CARGO_PKG_VERSION"),
        ))?;
        let key = hex(&Sha256::digest(identity)[..8]);
        let dir = runs_dir.join(format!("features-{key}"));
        let _lock = RunLock::acquire(&dir)?;
        if let Ok(run) = Self::load(&dir)
            && run.record.key == key
        {
            return Ok(run);
        }
        let manifest = &prepared.manifest;
        let paths = |split| {
            let rows = manifest.indices(split);
            bank.matrix(rows.iter().map(|&r| manifest.entries[r].path.as_str()))
        };
        let (train, validation) = (paths(Split::Train)?, paths(Split::Validation)?);
        let started = Instant::now();
        let gaussian = Gaussian::fit(&train, ridge)?;
        let gaussian_s = started.elapsed().as_secs_f64();
        let record = FeatureRecord {
            key,
            bank_key: bank.key.clone(),
            weights_sha256: bank.backbone.weights_sha256().into(),
            input_size: bank.input_size,
            k,
            ridge,
            manifest_sha256: prepared.manifest_sha256.clone(),
            train_images: train.nrows(),
            validation_knn: knn_distances(&train, &validation, k)?,
            validation_mahalanobis: gaussian.distances(&validation),
            crate_version: env!("CARGO_PKG_VERSION").into(),
        };
        prepared.record_in(&dir)?;
        let values: Vec<f32> = train.iter().copied().collect();
        write_f32s_atomic(&dir.join(TRAIN_FEATURES_FILE), &values)?;
        // Written last: a run.json says the run is complete.
        write_bytes_atomic(&dir.join(RUN_FILE), &serde_json::to_vec_pretty(&record)?)?;
        Ok(Self {
            dir,
            record,
            backbone: bank.backbone,
            train,
            gaussian,
            gaussian_s,
        })
    }

    /// Loads the run in `dir` (its Gaussian refitted from the saved
    /// features).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(RUN_FILE);
        let record: FeatureRecord = read_json(&path)?;
        let n = record.train_images;
        let values = read_f32s(&dir.join(TRAIN_FEATURES_FILE), n * FEATURES)?;
        let train = Array2::from_shape_vec((n, FEATURES), values).expect("n·FEATURES values");
        let started = Instant::now();
        let gaussian = Gaussian::fit(&train, record.ridge)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            backbone: Backbone::of_sha256(&record.weights_sha256)?,
            record,
            train,
            gaussian,
            gaussian_s: started.elapsed().as_secs_f64(),
        })
    }

    /// The detector's name, as on the ladder.
    pub fn name(&self, score: FeatureScore) -> String {
        match score {
            FeatureScore::Knn => format!("kNN, {} (k = {})", self.backbone, self.record.k),
            FeatureScore::Mahalanobis => format!("Mahalanobis, {}", self.backbone),
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
    /// ([`crate::scoring::DETECTOR_SCORES_FILE`]) for the same images; each
    /// detector's seconds are the bank's extraction, its fit and this
    /// call's scoring (or reading of the cache).
    pub fn detectors(
        &self,
        bank: &FeatureBank,
        test: &Scores,
        unseen: &[UnseenRow],
    ) -> Result<Vec<DetectorScores>> {
        let wanted = scored_images(test, unseen);
        let started = Instant::now();
        // Each score's own seconds when scored here; the read's when cached.
        let mut scored_s = None;
        let scored = detector_scores(
            &self.dir,
            RUN_FILE,
            &wanted,
            |r: &FeatureScoredImage| (r.set.as_str(), r.path.as_str()),
            || {
                let x = bank.matrix(wanted.iter().map(|&(_, path)| path))?;
                let knn = self.scores(FeatureScore::Knn, &x)?;
                let knn_s = started.elapsed().as_secs_f64();
                let mahalanobis = self.scores(FeatureScore::Mahalanobis, &x)?;
                scored_s = Some((knn_s, started.elapsed().as_secs_f64() - knn_s));
                Ok(wanted
                    .iter()
                    .zip(knn.into_iter().zip(mahalanobis))
                    .map(|(&(set, path), (knn, mahalanobis))| FeatureScoredImage {
                        path: path.into(),
                        set: set.into(),
                        knn,
                        mahalanobis,
                    })
                    .collect())
            },
        )?;
        let read_s = started.elapsed().as_secs_f64();
        let (knn_s, mahalanobis_s) = scored_s.unwrap_or((read_s, read_s));
        let detector = |score: FeatureScore, value: fn(&FeatureScoredImage) -> f64, seconds| {
            let name = self.name(score);
            let seconds = bank.seconds + seconds;
            scored_detector(name, true, (test, unseen), &scored, value, seconds)
        };
        let knn = DetectorScores {
            bank_bytes: Some((self.train.len() * size_of::<f32>()) as u64),
            ..detector(FeatureScore::Knn, |r| r.knn, knn_s)
        };
        let mahalanobis = detector(
            FeatureScore::Mahalanobis,
            |r| r.mahalanobis,
            self.gaussian_s + mahalanobis_s,
        );
        Ok(vec![knn, mahalanobis])
    }
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
    fn name(&self) -> String {
        self.run.name(self.score)
    }

    fn pretrained(&self) -> bool {
        true
    }

    /// With a bank: [`FeatureRun::detectors`] (cached in the run
    /// directory); without, the files scored.
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        let Some(bank) = self.bank else {
            return files_ladder_scores(self, images, device);
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
