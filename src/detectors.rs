//! Beyond reconstruction: anomaly scores from ImageNet-pretrained features
//! (nearest neighbours, a Gaussian), their fusion with the autoencoder's
//! error, and the ladder that puts every detector on one table.
//!
//! Every score is "higher is more anomalous" and is kept as [`Scores`] (the
//! test split) and [`UnseenRow`]s (every image outside the pool), with the
//! score in the `error` field, so thresholds, curves and per-class tables
//! work on any of them as on the autoencoder's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use polars::prelude::{DataFrame, PolarsResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::aggregate::TrivialScore;
use crate::data::{Caltech101, Prepared, Split};
use crate::detect::{Calibration, ImageScorer};
use crate::error::{Error, IoContext, Result};
use crate::evaluate::{
    Bootstrap, ConfidenceInterval, ConfusionMatrix, PerClassRow, auprc, auroc, operating_point,
    paired_bootstrap_delta, per_class,
};
use crate::fsutil::{read_csv, read_f32s, write_bytes_atomic, write_csv_atomic, write_f32s_atomic};
use crate::pretrained::{EfficientNetLite0, FEATURES, WEIGHTS_SHA256, file_features};
use crate::report::Markdown;
use crate::run::{RUN_FILE, RunLock, Trained};
use crate::score::{ScoreRow, Scores, UnseenRow, newer_than};
use crate::stats::hex;
use crate::table::column;

// Moved to `stats`; the old paths keep working.
pub use crate::stats::{ClassGaussian, Gaussian, knn_distances, rank_average, ranks, spd_inverse};

/// The pretrained features of every image of a dataset, by path.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBank {
    /// Paths relative to the dataset root, in scan order.
    pub paths: Vec<String>,
    /// `paths.len() × FEATURES` values, row-major.
    pub values: Vec<f32>,
    index: HashMap<String, usize>,
    /// A digest of the dataset's files, the input size and the weights.
    pub key: String,
    /// The network's input side.
    pub input_size: usize,
    /// Wall-clock seconds of the extraction (as measured when it ran).
    pub seconds: f64,
}

/// What a saved bank records beside its values.
#[derive(Debug, Serialize, Deserialize)]
struct BankRecord {
    key: String,
    paths: Vec<String>,
    input_size: usize,
    seconds: f64,
}

impl FeatureBank {
    /// The features at `input_size` px of every image under `data_dir`:
    /// loaded from `cache_dir` when a bank with the same key (the dataset's
    /// files, the input size, the weights) exists, else extracted and saved
    /// there.
    pub fn of_dataset(
        model: &EfficientNetLite0,
        data_dir: &Path,
        input_size: usize,
        cache_dir: &Path,
        device: &burn::tensor::Device,
        show_progress: bool,
    ) -> Result<Self> {
        let dataset = Caltech101::scan(data_dir, false)?;
        let paths: Vec<String> = dataset.images().iter().map(|i| i.path.clone()).collect();
        let key = bank_key(data_dir, &paths, input_size)?;
        let (json, bin) = (
            cache_dir.join(format!("features-{key}.json")),
            cache_dir.join(format!("features-{key}.f32")),
        );
        if let Some(bank) = Self::load(&json, &bin, &key)? {
            return Ok(bank);
        }
        let started = Instant::now();
        let files: Vec<PathBuf> = paths.iter().map(|p| data_dir.join(p)).collect();
        let rows = file_features(model, &files, input_size, device, show_progress)?;
        let seconds = started.elapsed().as_secs_f64();
        let values: Vec<f32> = rows.into_iter().flatten().collect();
        write_f32s_atomic(&bin, &values)?;
        let record = BankRecord {
            key,
            paths,
            input_size,
            seconds,
        };
        write_bytes_atomic(&json, &serde_json::to_vec(&record)?)?;
        Ok(Self::new(record, values))
    }

    fn new(record: BankRecord, values: Vec<f32>) -> Self {
        let index = record
            .paths
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i))
            .collect();
        Self {
            paths: record.paths,
            values,
            index,
            key: record.key,
            input_size: record.input_size,
            seconds: record.seconds,
        }
    }

    fn load(json: &Path, bin: &Path, key: &str) -> Result<Option<Self>> {
        let (Ok(record), true) = (std::fs::read(json), bin.exists()) else {
            return Ok(None);
        };
        let record: BankRecord = serde_json::from_slice(&record)?;
        if record.key != key {
            return Err(Error::Corrupt {
                path: json.to_path_buf(),
                reason: format!("records key {}, its name says {key}", record.key),
            });
        }
        let values = read_f32s(bin, record.paths.len() * FEATURES)?;
        Ok(Some(Self::new(record, values)))
    }

    /// The features of the image at `path` (relative to the dataset root).
    pub fn get(&self, path: &str) -> Result<&[f32]> {
        let i = *self.index.get(path).ok_or_else(|| {
            Error::InvalidParameter(format!("no features for {path}: another dataset?"))
        })?;
        Ok(&self.values[i * FEATURES..(i + 1) * FEATURES])
    }

    /// The features of `paths` as rows of a matrix.
    pub fn matrix<'a>(&self, paths: impl IntoIterator<Item = &'a str>) -> Result<Array2<f32>> {
        let mut values = Vec::new();
        let mut n = 0;
        for path in paths {
            values.extend_from_slice(self.get(path)?);
            n += 1;
        }
        Array2::from_shape_vec((n, FEATURES), values)
            .map_err(|e| Error::InvalidParameter(e.to_string()))
    }
}

/// A key over the dataset's files (path, length, mtime), the input size
/// and the weights.
fn bank_key(root: &Path, paths: &[String], input_size: usize) -> Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(format!("v1 {input_size} {WEIGHTS_SHA256}\n"));
    for path in paths {
        let file = root.join(path);
        let meta = std::fs::metadata(&file).at(&file)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        hasher.update(format!("{path} {} {mtime}\n", meta.len()));
    }
    Ok(hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// One detector's scores: the test split and, where it has them, every
/// image outside the pool (in the order of the autoencoders'
/// `unseen_scores.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorScores {
    pub name: String,
    /// Whether it uses ImageNet-pretrained weights.
    pub pretrained: bool,
    pub test: Scores,
    pub unseen: Option<Vec<UnseenRow>>,
    /// Fit and scoring time, seconds (feature extraction excluded).
    pub seconds: f64,
}

/// `test` with every error replaced by `values` (same order).
pub fn rescored(test: &Scores, values: &[f64]) -> Scores {
    Scores(
        test.iter()
            .zip(values)
            .map(|(r, &v)| ScoreRow {
                error: v,
                ..r.clone()
            })
            .collect(),
    )
}

pub fn rescored_unseen(unseen: &[UnseenRow], values: &[f64]) -> Vec<UnseenRow> {
    unseen
        .iter()
        .zip(values)
        .map(|(r, &v)| UnseenRow {
            error: v,
            ..r.clone()
        })
        .collect()
}

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
            weights_sha256: WEIGHTS_SHA256.into(),
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
            train,
            gaussian,
            gaussian_s,
        })
    }

    /// Loads the run in `dir` (its Gaussian refitted from the saved
    /// features).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(RUN_FILE);
        let record: FeatureRecord = serde_json::from_slice(&std::fs::read(&path).at(&path)?)?;
        let n = record.train_images;
        let values = read_f32s(&dir.join(TRAIN_FEATURES_FILE), n * FEATURES)?;
        let train = Array2::from_shape_vec((n, FEATURES), values).expect("n·FEATURES values");
        let started = Instant::now();
        let gaussian = Gaussian::fit(&train, record.ridge)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            record,
            train,
            gaussian,
            gaussian_s: started.elapsed().as_secs_f64(),
        })
    }

    /// The detector's name, as on the ladder.
    pub fn name(&self, score: FeatureScore) -> String {
        match score {
            FeatureScore::Knn => format!("kNN, EfficientNet-Lite0 (k = {})", self.record.k),
            FeatureScore::Mahalanobis => "Mahalanobis, EfficientNet-Lite0".into(),
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
        extractor: &'a EfficientNetLite0,
        score: FeatureScore,
    ) -> FeatureScorer<'a> {
        FeatureScorer {
            run: self,
            extractor,
            score,
        }
    }

    /// Both detectors on the test split (`test`'s rows) and on `unseen`
    /// (the images outside the pool), their features from `bank`. Scores
    /// are cached in the run directory ([`DETECTOR_SCORES_FILE`]) for the
    /// same images; each detector's seconds are its fit and this call's
    /// scoring (or reading of the cache).
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
            scored_detector(name, true, (test, unseen), &scored, value, seconds)
        };
        Ok(vec![
            detector(FeatureScore::Knn, |r| r.knn, knn_s),
            detector(
                FeatureScore::Mahalanobis,
                |r| r.mahalanobis,
                self.gaussian_s + mahalanobis_s,
            ),
        ])
    }
}

/// The images a detector run scores, in its [`DETECTOR_SCORES_FILE`]'s
/// order: `("test", path)` for each of `test`'s rows, then `("unseen",
/// path)` for each of `unseen`'s.
pub(crate) fn scored_images<'a>(
    test: &'a Scores,
    unseen: &'a [UnseenRow],
) -> Vec<(&'a str, &'a str)> {
    test.iter()
        .map(|r| ("test", r.path.as_str()))
        .chain(unseen.iter().map(|r| ("unseen", r.path.as_str())))
        .collect()
}

/// A detector's scores, `value` of each of `rows`: `test`'s rows, then
/// `unseen`'s ([`scored_images`]'s order).
pub(crate) fn scored_detector<T>(
    name: String,
    pretrained: bool,
    (test, unseen): (&Scores, &[UnseenRow]),
    rows: &[T],
    value: impl Fn(&T) -> f64,
    seconds: f64,
) -> DetectorScores {
    let (test_rows, unseen_rows) = rows.split_at(test.len());
    DetectorScores {
        name,
        pretrained,
        test: rescored(test, &test_rows.iter().map(&value).collect::<Vec<_>>()),
        unseen: Some(rescored_unseen(
            unseen,
            &unseen_rows.iter().map(&value).collect::<Vec<_>>(),
        )),
        seconds,
    }
}

/// Per-image detector scores of a classifier run or a feature run, one row
/// per image of [`scored_images`].
pub const DETECTOR_SCORES_FILE: &str = "detector_scores.csv";

/// The rows of `wanted`'s images in `dir`'s [`DETECTOR_SCORES_FILE`]: read
/// when it was written no earlier than `than` (what the scores derive from)
/// and holds exactly those images (`key` gives a row's set and path), else
/// computed by `score` and saved.
pub(crate) fn detector_scores<T: Serialize + serde::de::DeserializeOwned>(
    dir: &Path,
    than: &str,
    wanted: &[(&str, &str)],
    key: impl Fn(&T) -> (&str, &str),
    score: impl FnOnce() -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let path = dir.join(DETECTOR_SCORES_FILE);
    if newer_than(dir, DETECTOR_SCORES_FILE, than) {
        let rows: Vec<T> = read_csv(&path)?;
        if rows.len() == wanted.len() && rows.iter().zip(wanted).all(|(r, w)| key(r) == *w) {
            return Ok(rows);
        }
    }
    let rows = score()?;
    write_csv_atomic(&path, &rows)?;
    Ok(rows)
}

/// One image's scores by a [`FeatureRun`], as its [`DETECTOR_SCORES_FILE`]
/// keeps them.
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
    extractor: &'a EfficientNetLite0,
    score: FeatureScore,
}

impl ImageScorer for FeatureScorer<'_> {
    fn name(&self) -> String {
        self.run.name(self.score)
    }

    fn score_files(&self, paths: &[PathBuf], device: &burn::tensor::Device) -> Result<Vec<f64>> {
        let size = self.run.record.input_size;
        let rows = file_features(self.extractor, paths, size, device, false)?;
        let features = Array2::from_shape_vec((rows.len(), FEATURES), rows.concat())
            .expect("FEATURES values per file");
        self.run.scores(self.score, &features)
    }

    fn calibration(&self, percentile: f64, _: &burn::tensor::Device) -> Result<Calibration> {
        self.run.calibration(self.score, percentile)
    }
}

/// The autoencoders as detectors: each run's test errors and its unseen
/// scores (`unseen[i]` of `runs[i]`), its training time.
pub fn autoencoder_detectors(runs: &[Trained], unseen: &[Vec<UnseenRow>]) -> Vec<DetectorScores> {
    runs.iter()
        .zip(unseen)
        .map(|(run, unseen)| DetectorScores {
            name: format!("{} error", run.record.architecture),
            pretrained: false,
            test: run.scores.clone(),
            unseen: Some(unseen.clone()),
            seconds: run.record.timings.train_s + run.record.timings.score_s,
        })
        .collect()
}

/// Scores without a network (from [`crate::aggregate::trivial_scores`]),
/// on the test split only: their inputs are the cached test images.
pub fn trivial_detectors(trivial: &[TrivialScore], test: &Scores) -> Vec<DetectorScores> {
    trivial
        .iter()
        .map(|score| DetectorScores {
            name: score.label.into(),
            pretrained: false,
            test: rescored(test, &score.values),
            unseen: None,
            seconds: score.seconds,
        })
        .collect()
}

/// The `top` normal classes each detector flags most often at the
/// `percentile`-th test percentile: which object images look like scenes.
pub fn false_positives(
    detectors: &[DetectorScores],
    percentile: f64,
    top: usize,
) -> Result<DataFrame> {
    let mut rows: Vec<(String, PerClassRow)> = Vec::new();
    for d in detectors {
        let threshold = d.test.threshold(percentile)?;
        let classes = per_class(&d.test, threshold);
        let flagged = classes.into_iter().filter(|c| c.flagged > 0).take(top);
        rows.extend(flagged.map(|c| (d.name.clone(), c)));
    }
    Ok(DataFrame::new_infer_height(vec![
        column("detector", &rows, |r| r.0.as_str()),
        column("class", &rows, |r| r.1.class.as_str()),
        column("flagged", &rows, |r| r.1.flagged as u64),
        column("images", &rows, |r| r.1.images as u64),
        column("flag_rate", &rows, |r| r.1.flag_rate),
    ])?)
}

/// The rank average of two detectors' scores, on test and unseen alike.
pub fn fused(a: &DetectorScores, b: &DetectorScores) -> Result<DetectorScores> {
    let test = rank_average(&a.test.errors(), &b.test.errors())?;
    let unseen = match (&a.unseen, &b.unseen) {
        (Some(ua), Some(ub)) => {
            let values = |u: &[UnseenRow]| u.iter().map(|r| r.error).collect::<Vec<_>>();
            Some(rescored_unseen(
                ua,
                &rank_average(&values(ua), &values(ub))?,
            ))
        }
        _ => None,
    };
    Ok(DetectorScores {
        name: format!("{} + {} (ranks)", a.name, b.name),
        pretrained: a.pretrained || b.pretrained,
        test: rescored(&a.test, &test),
        unseen,
        seconds: a.seconds + b.seconds,
    })
}

/// The index of the detector whose name starts with `prefix`.
pub fn position(detectors: &[DetectorScores], prefix: &str) -> Result<usize> {
    detectors
        .iter()
        .position(|d| d.name.starts_with(prefix))
        .ok_or_else(|| Error::InvalidParameter(format!("no detector named {prefix}…")))
}

/// Of the detectors at `among`, the one with the highest test AUROC.
pub fn best_of(detectors: &[DetectorScores], among: &[usize]) -> Result<usize> {
    let test_auroc = |i: usize| auroc(&detectors[i].test.errors(), &detectors[i].test.labels());
    among
        .iter()
        .copied()
        .max_by(|&a, &b| test_auroc(a).total_cmp(&test_auroc(b)))
        .ok_or_else(|| Error::InvalidParameter("no detector to choose from".into()))
}

/// One detector's line of the ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LadderRow {
    pub detector: String,
    pub pretrained: bool,
    pub test_auroc: ConfidenceInterval,
    pub test_auprc: ConfidenceInterval,
    /// On every image outside the pool, where the detector has scores.
    pub unseen_auroc: Option<ConfidenceInterval>,
    /// `unseen_auroc` minus the reference detector's, paired.
    pub gain_over_reference: Option<ConfidenceInterval>,
    /// The confusion matrix at the `percentile`-th test percentile.
    pub percentile: f64,
    pub confusion: ConfusionMatrix,
    pub tpr: f64,
    pub fpr: f64,
    pub seconds: f64,
}

/// Every detector measured the same way: AUROC and AUPRC on the test split
/// with bootstrap intervals, AUROC on the unseen images with a paired
/// interval of its gain over `detectors[reference]`, and the rates at the
/// `percentile`-th test percentile.
pub fn ladder(
    detectors: &[DetectorScores],
    reference: usize,
    percentile: f64,
    bootstrap: Bootstrap,
) -> Result<Vec<LadderRow>> {
    let reference_unseen = detectors
        .get(reference)
        .and_then(|d| d.unseen.as_ref())
        .ok_or_else(|| Error::InvalidParameter("the reference needs unseen scores".into()))?;
    let unseen_values = |u: &[UnseenRow]| u.iter().map(|r| r.error).collect::<Vec<f64>>();
    let labels: Vec<bool> = reference_unseen.iter().map(|r| r.held_out).collect();
    for d in detectors {
        let same = |u: &[UnseenRow]| {
            u.len() == reference_unseen.len()
                && u.iter()
                    .zip(reference_unseen)
                    .all(|(a, b)| a.path == b.path)
        };
        if d.unseen.as_deref().is_some_and(|u| !same(u)) {
            return Err(Error::InvalidParameter(format!(
                "{} scored other unseen images than the reference: use runs of one pool",
                d.name
            )));
        }
    }
    detectors
        .iter()
        .map(|d| {
            let (errors, held_out) = (d.test.errors(), d.test.labels());
            let point = operating_point(&d.test, percentile)?;
            let unseen = d.unseen.as_deref().map(unseen_values);
            let gain = match &unseen {
                Some(u) => Some(paired_bootstrap_delta(
                    &unseen_values(reference_unseen),
                    u,
                    &labels,
                    auroc,
                    bootstrap.resamples,
                    bootstrap.seed,
                    0.95,
                )?),
                None => None,
            };
            Ok(LadderRow {
                detector: d.name.clone(),
                pretrained: d.pretrained,
                test_auroc: bootstrap.interval(&errors, &held_out, auroc)?,
                test_auprc: bootstrap.interval(&errors, &held_out, auprc)?,
                unseen_auroc: unseen
                    .as_ref()
                    .map(|u| bootstrap.interval(u, &labels, auroc))
                    .transpose()?,
                gain_over_reference: gain,
                percentile,
                confusion: point.matrix,
                tpr: point.matrix.recall(),
                fpr: point.matrix.fpr(),
                seconds: d.seconds,
            })
        })
        .collect()
}

/// The ladder as a table.
pub fn ladder_table(rows: &[LadderRow]) -> PolarsResult<DataFrame> {
    let opt = |f: fn(&ConfidenceInterval) -> f64,
               g: fn(&LadderRow) -> Option<ConfidenceInterval>| {
        move |r: &LadderRow| g(r).as_ref().map(f)
    };
    DataFrame::new_infer_height(vec![
        column("detector", rows, |r| r.detector.as_str()),
        column("pretrained", rows, |r| r.pretrained),
        column("test_auroc", rows, |r| r.test_auroc.estimate),
        column("test_auroc_low", rows, |r| r.test_auroc.low),
        column("test_auroc_high", rows, |r| r.test_auroc.high),
        column("test_auprc", rows, |r| r.test_auprc.estimate),
        column(
            "unseen_auroc",
            rows,
            opt(|c| c.estimate, |r| r.unseen_auroc),
        ),
        column("unseen_auroc_low", rows, opt(|c| c.low, |r| r.unseen_auroc)),
        column(
            "unseen_auroc_high",
            rows,
            opt(|c| c.high, |r| r.unseen_auroc),
        ),
        column("gain", rows, opt(|c| c.estimate, |r| r.gain_over_reference)),
        column("gain_low", rows, opt(|c| c.low, |r| r.gain_over_reference)),
        column(
            "gain_high",
            rows,
            opt(|c| c.high, |r| r.gain_over_reference),
        ),
        column("percentile", rows, |r| r.percentile),
        column("tp", rows, |r| r.confusion.tp as u64),
        column("fn", rows, |r| r.confusion.fn_ as u64),
        column("fp", rows, |r| r.confusion.fp as u64),
        column("tn", rows, |r| r.confusion.tn as u64),
        column("tpr", rows, |r| r.tpr),
        column("fpr", rows, |r| r.fpr),
        column("seconds", rows, |r| r.seconds),
    ])
}

/// What the ladder shows, in words: the best detector on the unseen images
/// and its gain over the reference (`rows[reference]`), and the best one
/// without pretrained weights.
pub fn ladder_summary(rows: &[LadderRow], reference: usize) -> Result<Markdown> {
    let unseen = |r: &&LadderRow| r.unseen_auroc.map_or(f64::NEG_INFINITY, |c| c.estimate);
    let best = rows.iter().max_by(|a, b| unseen(a).total_cmp(&unseen(b)));
    let scratch = rows
        .iter()
        .filter(|r| !r.pretrained)
        .max_by(|a, b| unseen(a).total_cmp(&unseen(b)));
    let (Some(best), Some(scratch), Some(reference)) = (best, scratch, rows.get(reference)) else {
        return Err(Error::InvalidParameter("an empty ladder".into()));
    };
    let ci = |c: Option<ConfidenceInterval>| {
        c.map_or("—".to_string(), |c| {
            format!("{:.3} [{:.3}, {:.3}]", c.estimate, c.low, c.high)
        })
    };
    let gain = best.gain_over_reference.map_or("—".into(), |g| {
        format!("{:+.3} [{:+.3}, {:+.3}]", g.estimate, g.low, g.high)
    });
    Ok(Markdown(format!(
        "On the images outside the pool, **{}** separates the background scenes best: AUROC \
         {} against {} for {}, a paired gain of {gain}; at the p{} test threshold it finds \
         {:.0} % of the test anomalies with {:.0} % false alarms. The best detector without \
         pretrained weights is {} at {}.",
        best.detector,
        ci(best.unseen_auroc),
        ci(reference.unseen_auroc),
        reference.detector,
        best.percentile,
        100.0 * best.tpr,
        100.0 * best.fpr,
        scratch.detector,
        ci(scratch.unseen_auroc),
    )))
}
