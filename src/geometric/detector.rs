//! The geometric run as a detector. An image's score is the negative mean
//! log-probability the network gives the true transformation, over every
//! transformation of the image (Golan & El-Yaniv 2018's simple score;
//! Hendrycks et al. 2019): a normal image, an upright centred object, has
//! one orientation and position the network learnt to read, so every
//! transformed copy is told right and confidently; a cluttered scene has
//! no canonical orientation, so the network is unsure (higher = more
//! anomalous). Calibrated on the validation scores in the run's record.

use std::path::PathBuf;

use burn::tensor::Device;
use ndarray::Array2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classifier::Classifier;
use crate::data::cache::hwc_u8_to_chw_unit;
use crate::data::image::read_resized;
use crate::data::{ImageCache, Prepared, Resize};
use crate::error::{Error, Result};
use crate::geometric::{TrainedGeometric, Transformations, transformed_batch};
use crate::io::{DEFAULT_BAR, Progress, Step};
use crate::scoring::{
    Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, Scores, UnseenRow,
    detector_scores, scored_detector, scored_images, split_images, timed,
};
use crate::training::MODEL_FILE;

/// Inputs per forward pass when scoring: every transformation of
/// `BATCH_INPUTS / transformations` images.
const BATCH_INPUTS: usize = 256;

/// The log-probability of every transformation of every transformed copy
/// of a set of images: row `i · T + t` holds, for copy `t` of image `i`,
/// the log-softmax over the `T` transformations.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformationLogProbs {
    log_probs: Array2<f64>,
}

impl TransformationLogProbs {
    /// From the network's logits, rows in the same image-major order.
    /// Errors unless the logits are `[n · T, T]`.
    pub fn from_logits(logits: &Array2<f32>) -> Result<Self> {
        let (rows, t) = logits.dim();
        if t == 0 || !rows.is_multiple_of(t) {
            return Err(Error::InvalidParameter(format!(
                "{rows} rows of {t} logits are not every transformation of whole images"
            )));
        }
        let mut log_probs = logits.mapv(f64::from);
        for mut row in log_probs.rows_mut() {
            let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
            let log_sum = max + row.iter().map(|&v| (v - max).exp()).sum::<f64>().ln();
            row.mapv_inplace(|v| v - log_sum);
        }
        Ok(Self { log_probs })
    }

    /// How many transformations, `T`.
    pub fn transformations(&self) -> usize {
        self.log_probs.ncols()
    }

    /// How many images.
    pub fn images(&self) -> usize {
        self.log_probs.nrows() / self.transformations()
    }

    /// Each image's score: `−(1/T) Σ_t log p(t | copy t)`.
    pub fn scores(&self) -> Vec<f64> {
        let t = self.transformations();
        (0..self.images())
            .map(|i| {
                let sum: f64 = (0..t).map(|k| self.log_probs[[i * t + k, k]]).sum();
                -sum / t as f64
            })
            .collect()
    }

    /// The share of transformed copies whose transformation is the most
    /// probable one.
    pub fn accuracy(&self) -> f64 {
        let t = self.transformations();
        let correct = (self.log_probs.rows().into_iter().enumerate())
            .filter(|(r, row)| {
                let best = (0..t).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                best == r % t
            })
            .count();
        correct as f64 / self.log_probs.nrows().max(1) as f64
    }

    fn concat(parts: Vec<Self>) -> Self {
        let views: Vec<_> = parts.iter().map(|p| p.log_probs.view()).collect();
        Self {
            log_probs: ndarray::concatenate(ndarray::Axis(0), &views)
                .expect("parts of one transformation count"),
        }
    }
}

/// [`TransformationLogProbs`] of `n` images given as `n · 3 · s · s`
/// values in [0, 1] (CHW).
fn image_log_probs(
    model: &Classifier,
    set: Transformations,
    images: &[f32],
    s: usize,
    device: &Device,
) -> TransformationLogProbs {
    let n = images.len() / (3 * s * s);
    let all = set.all();
    let transforms = vec![all; n];
    let logits = model.forward(transformed_batch(images, s, &transforms, device));
    let [rows, t] = logits.dims();
    let host = Array2::from_shape_vec((rows, t), logits.into_data().iter::<f32>().collect())
        .expect("a [rows, t] tensor holds rows·t values");
    TransformationLogProbs::from_logits(&host).expect("T logits for each of T copies")
}

/// Images per forward pass for `set`.
fn chunk_images(set: Transformations) -> usize {
    (BATCH_INPUTS / set.len()).max(1)
}

/// [`TransformationLogProbs`] of cache rows `rows`, every transformation of
/// each.
pub fn cache_log_probs(
    model: &Classifier,
    set: Transformations,
    cache: &ImageCache,
    rows: &[usize],
    device: &Device,
) -> TransformationLogProbs {
    let s = cache.size();
    let parts = rows
        .chunks(chunk_images(set))
        .map(|chunk| {
            let mut images = vec![0f32; chunk.len() * 3 * s * s];
            cache.write_batch_nchw(chunk, &mut images);
            image_log_probs(model, set, &images, s, device)
        })
        .collect();
    TransformationLogProbs::concat(parts)
}

/// [`TransformationLogProbs`] of image files, decoded and resized as the
/// cache was (one file per core).
pub fn file_log_probs(
    model: &Classifier,
    set: Transformations,
    paths: &[PathBuf],
    size: usize,
    resize: Resize,
    device: &Device,
    show_progress: bool,
) -> Result<TransformationLogProbs> {
    let step = Step {
        name: "transform and classify",
        unit: "images",
        bar: DEFAULT_BAR,
    };
    let progress = Progress::new(show_progress, step, paths.len() as u64);
    let plane = 3 * size * size;
    let mut parts = Vec::new();
    for chunk in paths.chunks(chunk_images(set).max(64)) {
        let decoded = chunk
            .par_iter()
            .map(|p| read_resized(p, size, resize))
            .collect::<Result<Vec<_>>>()?;
        let mut images = vec![0f32; chunk.len() * plane];
        for (image, dst) in decoded.iter().zip(images.chunks_exact_mut(plane)) {
            hwc_u8_to_chw_unit(image, dst);
        }
        for part in images.chunks(chunk_images(set) * plane) {
            parts.push(image_log_probs(model, set, part, size, device));
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    if parts.is_empty() {
        return TransformationLogProbs::from_logits(&Array2::zeros((0, set.len())));
    }
    Ok(TransformationLogProbs::concat(parts))
}

impl TrainedGeometric {
    /// Which detector: its label is `geometric (4 rotations)` or
    /// `geometric (4 rotations × 9 translations by 8 px)`.
    pub fn id(&self) -> DetectorId {
        DetectorId::Geometric {
            shift: self.transformations().shift(),
        }
    }

    /// The threshold at the `percentile`-th percentile of the validation
    /// scores saved in the run.
    pub fn calibration(&self, percentile: f64) -> Result<Calibration> {
        Calibration::of(&self.record.validation_scores, percentile)
    }

    /// The score of each image file, decoded and resized as the run's
    /// training images were.
    pub fn score_files(
        &self,
        paths: &[PathBuf],
        device: &Device,
        show_progress: bool,
    ) -> Result<Vec<f64>> {
        let (size, resize) = (self.config.image_size, self.record.resize);
        let set = self.transformations();
        Ok(file_log_probs(&self.model, set, paths, size, resize, device, show_progress)?.scores())
    }

    /// The network's size, transformations and training.
    pub fn describe(&self) -> crate::io::Markdown {
        let (r, c) = (&self.record, &self.config);
        crate::io::Markdown(format!(
            "**{}**: the classifier's network for {s}×{s}×3 images, width {}, telling {} \
             transformations apart: {} parameters, trained {} epochs (best on validation: epoch \
             {}), batch {} images × 4 rotations, Adam lr {}; validation accuracy {:.3}. Run \
             `{}`.",
            self.id(),
            c.width,
            r.transformations,
            r.parameters,
            r.epochs_run,
            r.best_epoch,
            c.batch_size,
            c.learning_rate,
            r.validation_accuracy,
            crate::io::shown_path(&self.dir).display(),
            s = c.image_size,
        ))
    }
}

impl ImageScorer for TrainedGeometric {
    fn id(&self) -> DetectorId {
        TrainedGeometric::id(self)
    }

    fn pretrained(&self) -> bool {
        false
    }

    /// [`geometric_detectors`] on the run's own split (the test images from
    /// its cache), cached in the run directory.
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        let prepared = Prepared::open(&self.dir)?;
        let (test, unseen, show) = (&images.test, &images.unseen, images.show_progress);
        geometric_detectors(self, &prepared, test, unseen, device, show)
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        TrainedGeometric::score_files(self, paths, device, false)
    }

    fn calibration(&self, percentile: f64, _: &Device) -> Result<Calibration> {
        TrainedGeometric::calibration(self, percentile)
    }
}

/// One image's score, as `detector_scores.csv` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ScoredImage {
    path: String,
    /// `test` or `unseen`.
    set: String,
    score: f64,
}

/// The geometric detector on the test split (`test`'s rows) and the
/// unseen images (`unseen`'s), as [`crate::classifier::classifier_detectors`]
/// scores them: test images from `prepared`'s cache, unseen ones from their
/// files; cached in the run's `detector_scores.csv` with the seconds
/// scoring them took. Its seconds are the training and that scoring.
pub fn geometric_detectors(
    run: &TrainedGeometric,
    prepared: &Prepared,
    test: &Scores,
    unseen: &[UnseenRow],
    device: &Device,
    show_progress: bool,
) -> Result<DetectorScores> {
    let wanted = scored_images(test, unseen);
    let (scored, scored_s) = detector_scores(
        &run.dir,
        MODEL_FILE,
        &wanted,
        |r: &ScoredImage| (r.set.as_str(), r.path.as_str()),
        || timed(|| score_images(run, prepared, &wanted, device, show_progress)),
    )?;
    let seconds = run.record.train_s + scored_s;
    Ok(scored_detector(
        run.id(),
        false,
        (test, unseen),
        &scored,
        |r| r.score,
        seconds,
    ))
}

/// Scores `wanted` (set, path).
fn score_images(
    run: &TrainedGeometric,
    prepared: &Prepared,
    wanted: &[(&str, &str)],
    device: &Device,
    show_progress: bool,
) -> Result<Vec<ScoredImage>> {
    if prepared.cache.size() != run.config.image_size {
        return Err(Error::InvalidParameter(format!(
            "the split's images are {} px; the geometric run was trained at {} px",
            prepared.cache.size(),
            run.config.image_size
        )));
    }
    let (test_rows, files) = split_images(prepared, wanted)?;
    let set = run.transformations();
    let test_scores = cache_log_probs(&run.model, set, &prepared.cache, &test_rows, device);
    let unseen_scores = file_log_probs(
        &run.model,
        set,
        &files,
        run.config.image_size,
        prepared.config.preprocess.resize,
        device,
        show_progress,
    )?;
    let scores = test_scores
        .scores()
        .into_iter()
        .chain(unseen_scores.scores());
    Ok(wanted
        .iter()
        .zip(scores)
        .map(|(&(set, path), score)| ScoredImage {
            path: path.into(),
            set: set.into(),
            score,
        })
        .collect())
}
