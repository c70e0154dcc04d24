//! The classifier as a detector: its outputs on every image, scored by how
//! unsure it is (maximum softmax, energy, entropy, class-conditional
//! Gaussians on its penultimate features), calibrated on validation images.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::classifier::{Classifier, TrainedClassifier};
use crate::data::{ImageCache, Prepared, Resize, Split, files_batch};
use crate::error::Result;
use crate::features::TRAIN_FEATURES_FILE;
use crate::io::{
    DEFAULT_BAR, Progress, Step, read_f32s, read_json, write_bytes_atomic, write_f32s_atomic,
};
use crate::scoring::{
    Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, Scores, UnseenRow,
    detector_scores, newer_than_model, scored_detector, scored_images, split_images, timed,
};
use crate::stats::ClassGaussian;

pub use crate::scoring::ClassifierScore;

/// A classifier run's [`ClassifierFit`], beside the train split's
/// penultimate features ([`TRAIN_FEATURES_FILE`]).
pub const FIT_FILE: &str = "detector_fit.json";

/// Logits and penultimate features of a batch, as host arrays.
fn outputs(model: &Classifier, images: Tensor<4>) -> (Array2<f32>, Array2<f32>) {
    let features = model.features(images);
    let logits = model.head.forward(features.clone());
    let host = |t: Tensor<2>| {
        let [n, d] = t.dims();
        Array2::from_shape_vec((n, d), t.into_data().iter::<f32>().collect())
            .expect("a [n, d] tensor holds n·d values")
    };
    (host(logits), host(features))
}

/// [`outputs`] of cache rows, in batches.
fn cache_outputs(
    model: &Classifier,
    cache: &ImageCache,
    rows: &[usize],
    batch_size: usize,
    device: &Device,
) -> (Array2<f32>, Array2<f32>) {
    let parts: Vec<_> = rows
        .chunks(batch_size.max(1))
        .map(|chunk| {
            outputs(
                model,
                crate::data::ImageBatcher::new(cache).batch(chunk, device),
            )
        })
        .collect();
    stack(parts)
}

/// [`outputs`] of image files, decoded and resized as the cache was.
fn file_outputs(
    model: &Classifier,
    paths: &[PathBuf],
    size: usize,
    resize: Resize,
    device: &Device,
    show_progress: bool,
) -> Result<(Array2<f32>, Array2<f32>)> {
    let step = Step {
        name: "classify",
        unit: "images",
        bar: DEFAULT_BAR,
    };
    let progress = Progress::new(show_progress, step, paths.len() as u64);
    let mut parts = Vec::new();
    for chunk in paths.chunks(64) {
        parts.push(outputs(model, files_batch(chunk, size, resize, device)?));
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    Ok(stack(parts))
}

fn stack(parts: Vec<(Array2<f32>, Array2<f32>)>) -> (Array2<f32>, Array2<f32>) {
    let (logits, features): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
    let concat = |a: Vec<Array2<f32>>| {
        let views: Vec<_> = a.iter().map(Array2::view).collect();
        ndarray::concatenate(ndarray::Axis(0), &views).expect("batches of one width")
    };
    (concat(logits), concat(features))
}

/// `−log Σ exp(logits)` of each row: the energy score.
pub fn energy(logits: &Array2<f32>) -> Vec<f64> {
    logits
        .rows()
        .into_iter()
        .map(|row| {
            let max = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
            -(max + sum.ln())
        })
        .collect()
}

/// What [`FIT_FILE`] holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FitRecord {
    ridge: f64,
    manifest_sha256: String,
    /// The class of each train image, in the order of the saved features.
    train_classes: Vec<usize>,
    /// Each score of the validation split's (normal) images.
    validation_energy: Vec<f64>,
    validation_mahalanobis: Vec<f64>,
    /// Seconds of the fit: the train and validation images' outputs, the
    /// class Gaussian, the validation scores (`None` in older fits, which
    /// are fitted again).
    #[serde(default)]
    fit_s: Option<f64>,
}

/// The classifier's detectors, fitted: the class Gaussian of the train
/// split's penultimate features, and each score on the validation split,
/// which calibrates its threshold at any percentile. Saved in the run, so
/// new images are judged without the image cache.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierFit {
    record: FitRecord,
    gaussian: ClassGaussian,
}

impl ClassifierFit {
    /// The fit of `run` on `prepared` with `ridge`: the saved one when it
    /// was written after the weights for the same split and ridge, else
    /// fitted and saved.
    pub fn of(
        run: &TrainedClassifier,
        prepared: &Prepared,
        ridge: f64,
        device: &Device,
    ) -> Result<Self> {
        if let Some(fit) = Self::saved(run)?
            && fit.record.ridge == ridge
            && fit.record.manifest_sha256 == prepared.manifest_sha256
            && fit.record.fit_s.is_some()
        {
            return Ok(fit);
        }
        let started = Instant::now();
        let (batch, manifest) = (run.config.batch_size, &prepared.manifest);
        let train_rows = manifest.indices(Split::Train);
        let (_, train_features) =
            cache_outputs(&run.model, &prepared.cache, &train_rows, batch, device);
        let train_classes: Vec<usize> = (run.record.classes)
            .targets(prepared, &train_rows)?
            .into_iter()
            .map(|c| c as usize)
            .collect();
        let gaussian = ClassGaussian::fit(&train_features, &train_classes, ridge)?;
        let val_rows = manifest.indices(Split::Validation);
        let (logits, features) =
            cache_outputs(&run.model, &prepared.cache, &val_rows, batch, device);
        let record = FitRecord {
            ridge,
            manifest_sha256: prepared.manifest_sha256.clone(),
            train_classes,
            validation_energy: energy(&logits),
            validation_mahalanobis: gaussian.distances(&features),
            // Last: after the validation scores above.
            fit_s: Some(started.elapsed().as_secs_f64()),
        };
        prepared.record_in(&run.dir)?;
        let values: Vec<f32> = train_features.iter().copied().collect();
        write_f32s_atomic(&run.dir.join(TRAIN_FEATURES_FILE), &values)?;
        write_bytes_atomic(&run.dir.join(FIT_FILE), &serde_json::to_vec(&record)?)?;
        Ok(Self { record, gaussian })
    }

    /// The fit saved in `run`'s directory after its weights, if any (the
    /// class Gaussian refitted from the saved features: milliseconds).
    pub fn saved(run: &TrainedClassifier) -> Result<Option<Self>> {
        if !newer_than_model(&run.dir, FIT_FILE) {
            return Ok(None);
        }
        let path = run.dir.join(FIT_FILE);
        let record: FitRecord = read_json(&path)?;
        let (n, width) = (record.train_classes.len(), 4 * run.config.model.width);
        let values = read_f32s(&run.dir.join(TRAIN_FEATURES_FILE), n * width)?;
        let features = Array2::from_shape_vec((n, width), values).expect("n·width values");
        let gaussian = ClassGaussian::fit(&features, &record.train_classes, record.ridge)?;
        Ok(Some(Self { record, gaussian }))
    }

    /// Seconds the fit took when it was computed (0 for a fit saved
    /// without them).
    pub fn seconds(&self) -> f64 {
        self.record.fit_s.unwrap_or(0.0)
    }

    /// The threshold of `score` at the `percentile`-th percentile of its
    /// validation scores.
    pub fn calibration(&self, score: ClassifierScore, percentile: f64) -> Result<Calibration> {
        let validation = match score {
            ClassifierScore::Energy => &self.record.validation_energy,
            ClassifierScore::Mahalanobis => &self.record.validation_mahalanobis,
        };
        Calibration::of(validation, percentile)
    }

    /// `run` judging image files by `score`.
    pub fn scorer<'a>(
        &'a self,
        run: &'a TrainedClassifier,
        score: ClassifierScore,
    ) -> ClassifierScorer<'a> {
        ClassifierScorer {
            run,
            fit: self,
            score,
        }
    }
}

/// A classifier run and its fit, scoring image files by one score.
#[derive(Debug)]
pub struct ClassifierScorer<'a> {
    run: &'a TrainedClassifier,
    fit: &'a ClassifierFit,
    score: ClassifierScore,
}

impl ImageScorer for ClassifierScorer<'_> {
    fn id(&self) -> DetectorId {
        DetectorId::Classifier(self.score)
    }

    fn pretrained(&self) -> bool {
        false
    }

    /// [`classifier_detectors`] on the run's own split (the test images from
    /// its cache), both scores cached in the run directory.
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        let prepared = Prepared::open(&self.run.dir)?;
        let (test, unseen, show) = (&images.test, &images.unseen, images.show_progress);
        let mut both =
            classifier_detectors(self.run, self.fit, &prepared, test, unseen, device, show)?;
        Ok(both.swap_remove(match self.score {
            ClassifierScore::Energy => 0,
            ClassifierScore::Mahalanobis => 1,
        }))
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        let (size, resize) = (self.run.config.model.image_size, self.run.record.resize);
        let (logits, features) = file_outputs(&self.run.model, paths, size, resize, device, false)?;
        Ok(match self.score {
            ClassifierScore::Energy => energy(&logits),
            ClassifierScore::Mahalanobis => self.fit.gaussian.distances(&features),
        })
    }

    fn calibration(&self, percentile: f64, _: &Device) -> Result<Calibration> {
        self.fit.calibration(self.score, percentile)
    }
}

/// One image's classifier scores, as `detector_scores.csv` keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ScoredImage {
    path: String,
    /// `test` or `unseen`.
    set: String,
    energy: f64,
    mahalanobis: f64,
}

/// The classifier's two detectors (energy, class Mahalanobis of `fit`), on
/// the test split (`test`'s rows) and the unseen images (`unseen`'s).
/// Scores are cached in the run directory with the seconds scoring them
/// took; each detector's seconds are the training, the fit and that
/// scoring.
pub fn classifier_detectors(
    run: &TrainedClassifier,
    fit: &ClassifierFit,
    prepared: &Prepared,
    test: &Scores,
    unseen: &[UnseenRow],
    device: &Device,
    show_progress: bool,
) -> Result<Vec<DetectorScores>> {
    let wanted = scored_images(test, unseen);
    let (scored, scored_s) = detector_scores(
        &run.dir,
        FIT_FILE,
        &wanted,
        |r: &ScoredImage| (r.set.as_str(), r.path.as_str()),
        || timed(|| score_images(run, fit, prepared, &wanted, device, show_progress)),
    )?;
    // One network pass gives both scores: each counts all of it.
    let seconds = run.record.train_s + fit.seconds() + scored_s;
    let detector = |score: ClassifierScore, value: fn(&ScoredImage) -> f64| {
        let id = DetectorId::Classifier(score);
        scored_detector(id, false, (test, unseen), &scored, value, seconds)
    };
    Ok(vec![
        detector(ClassifierScore::Energy, |r| r.energy),
        detector(ClassifierScore::Mahalanobis, |r| r.mahalanobis),
    ])
}

/// Scores `wanted` (set, path): test images from the cache, unseen ones
/// from their files.
fn score_images(
    run: &TrainedClassifier,
    fit: &ClassifierFit,
    prepared: &Prepared,
    wanted: &[(&str, &str)],
    device: &Device,
    show_progress: bool,
) -> Result<Vec<ScoredImage>> {
    let (test_rows, files) = split_images(prepared, wanted)?;
    let batch = run.config.batch_size;
    let (test_logits, test_features) =
        cache_outputs(&run.model, &prepared.cache, &test_rows, batch, device);
    let (unseen_logits, unseen_features) = file_outputs(
        &run.model,
        &files,
        prepared.cache.size(),
        prepared.config.preprocess.resize,
        device,
        show_progress,
    )?;
    let energies = energy(&test_logits)
        .into_iter()
        .chain(energy(&unseen_logits));
    let distances = (fit.gaussian.distances(&test_features).into_iter())
        .chain(fit.gaussian.distances(&unseen_features));
    Ok(wanted
        .iter()
        .zip(energies.zip(distances))
        .map(|(&(set, path), (energy, mahalanobis))| ScoredImage {
            path: path.into(),
            set: set.into(),
            energy,
            mahalanobis,
        })
        .collect())
}

impl TrainedClassifier {
    /// The network's layers, size and training settings.
    pub fn describe(&self) -> crate::io::Markdown {
        let (r, c) = (&self.record, &self.config);
        crate::io::Markdown(format!(
            "**classifier** for {s}×{s}×3 images, {} classes, width {}: {} parameters, trained {} \
             epochs (best on validation: epoch {}), batch {}, Adam lr {}; validation accuracy \
             {:.3}. Run `{}`.",
            c.model.classes,
            c.model.width,
            r.parameters,
            r.epochs_run,
            r.best_epoch,
            c.batch_size,
            c.learning_rate,
            r.validation_accuracy,
            crate::io::shown_path(&self.dir).display(),
            s = c.model.image_size,
        ))
    }
}
