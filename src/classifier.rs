//! A label-aware detector without pretraining: a small CNN trained from
//! scratch to tell the 101 object classes apart, scored by how unsure it
//! is. The normal data carries class labels that the autoencoders ignore;
//! a classifier has to learn what distinguishes objects, and a background
//! scene, which belongs to none of them, should leave it unsure.
//!
//! Two scores of one trained network (higher = more anomalous):
//! - **energy**, `−log Σ exp(logits)` (Liu et al. 2020): low when some
//!   class fits well;
//! - **class Mahalanobis**: the distance of the penultimate features to the
//!   nearest class mean under a covariance shared by the classes, fitted on
//!   the train split (Lee et al. 2018).
//!
//! Training is the autoencoders' loop ([`crate::train`]): the same seeds,
//! checkpoints and `--resume`, cross-entropy on randomly mirrored and
//! shifted images, the best-on-validation weights kept. Held-out classes (the background) never
//! enter training or validation. A run lives in
//! `runs/classifier-seed<N>-<key>/`, keyed like the autoencoders' runs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{ImageCache, Prepared, Resize, Split, files_batch};
use crate::detect::{Calibration, ImageScorer};
use crate::detectors::{
    ClassGaussian, DetectorScores, TRAIN_FEATURES_FILE, detector_scores, scored_detector,
    scored_images,
};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{read_f32s, write_bytes_atomic, write_f32s_atomic};
use crate::model::{Stage, conv3x3};
use crate::optim::FusedAdam;
use crate::progress::{DEFAULT_BAR, Progress, Step};
use crate::run::{RUN_FILE, RunLock};
use crate::score::{Scores, UnseenRow, newer_than_model};
use crate::train::{
    HISTORY_FILE, MODEL_FILE, Objective, Schedule, TrainOptions, claim_run_dir, fit, publish,
    read_history, record_error,
};

/// A classifier run's [`ClassifierFit`], beside the train split's
/// penultimate features ([`TRAIN_FEATURES_FILE`]).
pub const FIT_FILE: &str = "detector_fit.json";

/// The classifier's architecture, saved beside its weights.
#[derive(Config, Debug, PartialEq)]
pub struct ClassifierConfig {
    /// Input side S; must be divisible by 8.
    pub image_size: usize,
    /// Number of normal classes.
    pub classes: usize,
    /// Channels of the first stage; the second and third have 2× and 4×,
    /// and the penultimate features 4× as many values.
    #[config(default = 32)]
    pub width: usize,
}

impl ClassifierConfig {
    pub fn check(&self) -> Result<()> {
        if self.image_size < 8 || !self.image_size.is_multiple_of(8) {
            return Err(Error::InvalidParameter(format!(
                "image size {} must be a positive multiple of 8",
                self.image_size
            )));
        }
        if self.classes < 2 || self.width == 0 {
            return Err(Error::InvalidParameter(format!(
                "a classifier needs at least 2 classes and a positive width (got {} classes, \
                 width {})",
                self.classes, self.width
            )));
        }
        Ok(())
    }

    /// Builds the classifier on `device` with fresh weights.
    pub fn init(&self, device: &Device) -> Result<Classifier> {
        self.check()?;
        let w = self.width;
        let stage = |i, o, stride| Stage::new(conv3x3(i, o, stride, device), o, true, device);
        Ok(Classifier {
            down1: stage(3, w, 2),
            conv1: stage(w, w, 1),
            down2: stage(w, 2 * w, 2),
            conv2: stage(2 * w, 2 * w, 1),
            down3: stage(2 * w, 4 * w, 2),
            conv3: stage(4 * w, 4 * w, 1),
            head: LinearConfig::new(4 * w, self.classes).init(device),
        })
    }
}

/// Three stages of two 3×3 conv + batch norm + ReLU layers (the first
/// strided), global average pooling and a linear layer to the class logits.
#[derive(Module, Debug)]
pub struct Classifier {
    down1: Stage<Conv2d>,
    conv1: Stage<Conv2d>,
    down2: Stage<Conv2d>,
    conv2: Stage<Conv2d>,
    down3: Stage<Conv2d>,
    conv3: Stage<Conv2d>,
    head: Linear,
}

impl Classifier {
    /// The penultimate features: the last stage, averaged over space.
    ///
    /// # Shapes
    /// - input: `[batch, 3, S, S]`, values in [0, 1]
    /// - output: `[batch, 4 · width]`
    pub fn features(&self, images: Tensor<4>) -> Tensor<2> {
        let x = self.conv1.forward(self.down1.forward(images));
        let x = self.conv2.forward(self.down2.forward(x));
        let x = self.conv3.forward(self.down3.forward(x));
        x.mean_dim(3).mean_dim(2).flatten(1, 3)
    }

    /// The class logits.
    ///
    /// # Shapes
    /// - input: `[batch, 3, S, S]`
    /// - output: `[batch, classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.features(images))
    }
}

/// Training settings, saved as `config.json` beside the weights.
#[derive(Config, Debug, PartialEq)]
pub struct ClassifierTrainingConfig {
    pub model: ClassifierConfig,
    #[config(default = 30)]
    pub epochs: usize,
    #[config(default = 64)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = 42)]
    pub seed: u64,
    /// Stop after this many epochs without a lower validation loss.
    #[config(default = "Some(6)")]
    pub early_stopping_patience: Option<usize>,
    /// Largest random shift of a train image, as a fraction of its side
    /// (edges repeated); each image is also mirrored with probability ½.
    #[config(default = 0.125)]
    pub max_shift: f64,
}

impl ClassifierTrainingConfig {
    pub fn check(&self) -> Result<()> {
        self.model.check()?;
        self.schedule().check(self.learning_rate)?;
        if !(0.0..0.5).contains(&self.max_shift) {
            return Err(Error::InvalidParameter(format!(
                "max_shift {} must be within [0, 0.5)",
                self.max_shift
            )));
        }
        Ok(())
    }

    /// [`Self::max_shift`] in pixels.
    fn shift_pixels(&self) -> usize {
        (self.max_shift * self.model.image_size as f64).round() as usize
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            patience: self.early_stopping_patience,
        }
    }
}

/// The normal classes of a prepared split (those of its train and
/// validation images), sorted: class `i` of the classifier is `names[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassIndex {
    pub names: Vec<String>,
}

impl ClassIndex {
    /// The classes of the train and validation splits (held-out classes
    /// never are in them). A small pool can leave a class without a train
    /// image; it keeps its logit.
    pub fn of(prepared: &Prepared) -> Self {
        let mut names: Vec<String> = prepared
            .manifest
            .entries
            .iter()
            .filter(|e| e.split != Split::Test)
            .map(|e| e.class.clone())
            .collect();
        names.sort_unstable();
        names.dedup();
        Self { names }
    }

    /// The class index of each of `rows`; errors for a class the
    /// classifier does not know.
    fn targets(&self, prepared: &Prepared, rows: &[usize]) -> Result<Vec<i64>> {
        rows.iter()
            .map(|&r| {
                let class = &prepared.manifest.entries[r].class;
                self.names
                    .binary_search(class)
                    .map(|i| i as i64)
                    .map_err(|_| {
                        Error::InvalidParameter(format!(
                            "class {class} is not one of the classifier's classes"
                        ))
                    })
            })
            .collect()
    }
}

/// `run.json` of a classifier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierRecord {
    pub key: String,
    pub seed: u64,
    pub classes: ClassIndex,
    pub parameters: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub train_s: f64,
    /// Top-1 accuracy of the best weights on the validation split.
    pub validation_accuracy: f64,
    pub resize: Resize,
    pub manifest_sha256: String,
    pub crate_version: String,
}

/// A finished classifier run, loaded.
#[derive(Debug)]
pub struct TrainedClassifier {
    pub dir: PathBuf,
    pub record: ClassifierRecord,
    pub config: ClassifierTrainingConfig,
    pub history: Vec<crate::train::EpochRecord>,
    /// The best-on-validation weights, in inference mode.
    pub model: Classifier,
}

/// The key of training `config` on `prepared` (as [`crate::run::run_key`]).
pub fn classifier_key(prepared: &Prepared, config: &ClassifierTrainingConfig) -> Result<String> {
    let identity = serde_json::to_vec(&(
        config,
        &prepared.manifest_sha256,
        prepared.config.preprocess.resize.description(),
        env!("CARGO_PKG_VERSION"),
    ))?;
    Ok(crate::stats::hex(&Sha256::digest(identity)[..8]))
}

/// `runs_dir/classifier-seed<N>-<key>`: the run of `config` with `key`.
pub fn classifier_dir(runs_dir: &Path, config: &ClassifierTrainingConfig, key: &str) -> PathBuf {
    runs_dir.join(format!("classifier-seed{}-{key}", config.seed))
}

/// The classifier run of `config` on `prepared` under `runs_dir`: loaded
/// when finished with the same key, else trained (resuming its checkpoint).
pub fn trained_classifier(
    runs_dir: &Path,
    prepared: &Prepared,
    config: &ClassifierTrainingConfig,
    device: &Device,
    show_progress: bool,
) -> Result<TrainedClassifier> {
    let key = classifier_key(prepared, config)?;
    let dir = classifier_dir(runs_dir, config, &key);
    let _lock = RunLock::acquire(&dir)?;
    if let Ok(run) = TrainedClassifier::load(&dir, device)
        && run.record.key == key
    {
        return Ok(run);
    }
    let options = TrainOptions {
        resume: true,
        show_progress,
    };
    train_classifier(&dir, prepared, config, key, device, options)
}

impl TrainedClassifier {
    /// Loads the finished run in `dir`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let record_path = dir.join(RUN_FILE);
        let record: ClassifierRecord = serde_json::from_slice(
            &std::fs::read(&record_path).map_err(|e| record_error(&record_path, e))?,
        )?;
        let config_path = dir.join(crate::train::CONFIG_FILE);
        let config = ClassifierTrainingConfig::load(&config_path)
            .map_err(|e| record_error(&config_path, e))?;
        let model_path = dir.join(MODEL_FILE);
        let model = config
            .model
            .init(device)?
            .try_load_file(&model_path)
            .map_err(|e| record_error(&model_path, e))?;
        Ok(Self {
            history: read_history(&dir.join(HISTORY_FILE))?,
            dir: dir.to_path_buf(),
            record,
            config,
            model,
        })
    }
}

/// Cross-entropy on flipped train batches, validated by the cross-entropy
/// on the validation split.
struct Classification<'a> {
    cache: &'a ImageCache,
    /// Class index of every cache row (−1 for held-out rows, never used).
    targets: Vec<i64>,
    val_rows: Vec<usize>,
    config: &'a ClassifierTrainingConfig,
    train_device: &'a Device,
    device: &'a Device,
}

impl Classification<'_> {
    fn targets(&self, rows: &[usize], device: &Device) -> Tensor<1, Int> {
        let values: Vec<i64> = rows.iter().map(|&r| self.targets[r]).collect();
        Tensor::from_data(TensorData::new(values, [rows.len()]), device)
    }
}

impl Objective for Classification<'_> {
    type Model = Classifier;

    fn step(
        &self,
        model: Classifier,
        optimizer: &mut ModuleOptimizer,
        rows: &[usize],
        epoch: usize,
    ) -> (Classifier, Tensor<1>) {
        let shift = self.config.shift_pixels();
        let moves: Vec<Augmentation> = rows
            .iter()
            .map(|&r| Augmentation::draw(self.config.seed, epoch, r, shift))
            .collect();
        let images = augmented_batch(self.cache, rows, &moves, self.train_device);
        let loss = CrossEntropyLossConfig::new()
            .init(self.train_device)
            .forward(model.forward(images), self.targets(rows, self.train_device));
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = optimizer.step(self.config.learning_rate, model, grads);
        (model, loss.detach().inner())
    }

    fn validation_loss(&self, model: &Classifier) -> f64 {
        let model = model.valid();
        let loss = CrossEntropyLossConfig::new().init(self.device);
        let mut sum = 0.0;
        for rows in self.val_rows.chunks(self.config.batch_size) {
            let x = crate::data::ImageBatcher::new(self.cache).batch(rows, self.device);
            let batch = loss.forward(model.forward(x), self.targets(rows, self.device));
            sum += f64::from(batch.into_scalar::<f32>()) * rows.len() as f64;
        }
        sum / self.val_rows.len() as f64
    }
}

/// How one train image is moved in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Augmentation {
    flip: bool,
    dx: isize,
    dy: isize,
}

impl Augmentation {
    /// Drawn from a SplitMix64 hash of the seed, epoch and row, so a
    /// resumed run moves the same images the same way.
    fn draw(seed: u64, epoch: usize, row: usize, max_shift: usize) -> Self {
        let mut z =
            seed ^ ((epoch as u64) << 40) ^ (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let span = 2 * max_shift as u64 + 1;
        let offset = |bits: u64| (bits % span) as isize - max_shift as isize;
        Self {
            flip: z & 1 == 1,
            dx: offset(z >> 8),
            dy: offset(z >> 32),
        }
    }

    /// Applies the move to one `[3, s, s]` image, in place; `scratch` holds
    /// `s · s` values.
    fn apply(self, image: &mut [f32], s: usize, scratch: &mut [f32]) {
        let clamp = |i: isize| i.clamp(0, s as isize - 1) as usize;
        for plane in image.chunks_exact_mut(s * s) {
            scratch.copy_from_slice(plane);
            for y in 0..s {
                let from_y = clamp(y as isize - self.dy);
                for x in 0..s {
                    let mirrored = if self.flip { s - 1 - x } else { x };
                    let from_x = clamp(mirrored as isize - self.dx);
                    plane[y * s + x] = scratch[from_y * s + from_x];
                }
            }
        }
    }
}

/// The batch of cache rows `rows`, image `i` moved by `moves[i]`.
///
/// # Shapes
/// - output: `[rows.len(), 3, S, S]`
fn augmented_batch(
    cache: &ImageCache,
    rows: &[usize],
    moves: &[Augmentation],
    device: &Device,
) -> Tensor<4> {
    let s = cache.size();
    let mut values = vec![0f32; rows.len() * 3 * s * s];
    cache.write_batch_nchw(rows, &mut values);
    let mut scratch = vec![0f32; s * s];
    for (image, m) in values.chunks_exact_mut(3 * s * s).zip(moves) {
        m.apply(image, s, &mut scratch);
    }
    Tensor::from_data(TensorData::new(values, [rows.len(), 3, s, s]), device)
}

/// Trains on `prepared`'s train split into `dir` and records the run.
fn train_classifier(
    dir: &Path,
    prepared: &Prepared,
    config: &ClassifierTrainingConfig,
    key: String,
    device: &Device,
    options: TrainOptions,
) -> Result<TrainedClassifier> {
    config.check()?;
    let classes = ClassIndex::of(prepared);
    if classes.names.len() != config.model.classes
        || prepared.cache.size() != config.model.image_size
    {
        return Err(Error::InvalidParameter(format!(
            "the split has {} classes at {} px; the classifier is configured for {} at {} px",
            classes.names.len(),
            prepared.cache.size(),
            config.model.classes,
            config.model.image_size
        )));
    }
    let (train_rows, val_rows) = (
        prepared.manifest.indices(Split::Train),
        prepared.manifest.indices(Split::Validation),
    );
    let known: Vec<usize> = train_rows.iter().chain(&val_rows).copied().collect();
    let mut targets = vec![-1; prepared.manifest.len()];
    for (&row, target) in known.iter().zip(classes.targets(prepared, &known)?) {
        targets[row] = target;
    }
    claim_run_dir(dir, config, options.resume)?;
    // The split beside the weights: `score --run` fits the detectors from it.
    prepared.record_in(dir)?;
    let started = Instant::now();
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let objective = Classification {
        cache: &prepared.cache,
        targets,
        val_rows,
        config,
        train_device: &train_device,
        device,
    };
    // burn's default ε.
    let optimizer = FusedAdam::new(1e-5).init();
    let model = config.model.init(&train_device)?;
    let state = fit(
        dir,
        &objective,
        config.schedule(),
        model,
        optimizer,
        train_rows,
        options,
    )?;
    let (model, state) = publish(dir, config.model.init(device)?, state)?;
    let accuracy = accuracy(&model, &objective, device);
    let record = ClassifierRecord {
        key,
        seed: config.seed,
        classes,
        parameters: model.num_params(),
        epochs_run: state.history.len(),
        best_epoch: state.best_epoch,
        train_s: started.elapsed().as_secs_f64(),
        validation_accuracy: accuracy,
        resize: prepared.config.preprocess.resize,
        manifest_sha256: prepared.manifest_sha256.clone(),
        crate_version: env!("CARGO_PKG_VERSION").into(),
    };
    write_bytes_atomic(&dir.join(RUN_FILE), &serde_json::to_vec_pretty(&record)?)?;
    Ok(TrainedClassifier {
        dir: dir.to_path_buf(),
        record,
        config: config.clone(),
        history: state.history,
        model,
    })
}

/// Top-1 accuracy on the validation split.
fn accuracy(model: &Classifier, objective: &Classification, device: &Device) -> f64 {
    let rows = &objective.val_rows;
    let mut correct = 0usize;
    for chunk in rows.chunks(objective.config.batch_size) {
        let x = crate::data::ImageBatcher::new(objective.cache).batch(chunk, device);
        let predicted = model.forward(x).argmax(1).into_data();
        correct += predicted
            .iter::<i64>()
            .zip(chunk)
            .filter(|&(p, &r)| p == objective.targets[r])
            .count();
    }
    correct as f64 / rows.len() as f64
}

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

/// Which of the classifier's scores judges an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierScore {
    Energy,
    Mahalanobis,
}

impl ClassifierScore {
    /// The detector's name, as on the ladder.
    pub fn name(self) -> &'static str {
        match self {
            Self::Energy => "classifier energy",
            Self::Mahalanobis => "classifier Mahalanobis",
        }
    }
}

impl std::str::FromStr for ClassifierScore {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "energy" => Ok(Self::Energy),
            "mahalanobis" => Ok(Self::Mahalanobis),
            other => Err(Error::InvalidParameter(format!(
                "a classifier run scores by `energy` or `mahalanobis`, not `{other}`"
            ))),
        }
    }
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
        {
            return Ok(fit);
        }
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
        let record: FitRecord = serde_json::from_slice(&std::fs::read(&path).at(&path)?)?;
        let (n, width) = (record.train_classes.len(), 4 * run.config.model.width);
        let values = read_f32s(&run.dir.join(TRAIN_FEATURES_FILE), n * width)?;
        let features = Array2::from_shape_vec((n, width), values).expect("n·width values");
        let gaussian = ClassGaussian::fit(&features, &record.train_classes, record.ridge)?;
        Ok(Some(Self { record, gaussian }))
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
    fn name(&self) -> String {
        self.score.name().into()
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
/// Scores are cached in the run directory.
pub fn classifier_detectors(
    run: &TrainedClassifier,
    fit: &ClassifierFit,
    prepared: &Prepared,
    test: &Scores,
    unseen: &[UnseenRow],
    device: &Device,
    show_progress: bool,
) -> Result<Vec<DetectorScores>> {
    let started = Instant::now();
    let wanted = scored_images(test, unseen);
    let scored = detector_scores(
        &run.dir,
        FIT_FILE,
        &wanted,
        |r: &ScoredImage| (r.set.as_str(), r.path.as_str()),
        || score_images(run, fit, prepared, &wanted, device, show_progress),
    )?;
    let seconds = run.record.train_s + started.elapsed().as_secs_f64();
    let detector = |score: ClassifierScore, value: fn(&ScoredImage) -> f64| {
        let name = score.name().into();
        scored_detector(name, false, (test, unseen), &scored, value, seconds)
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
    let manifest = &prepared.manifest;
    let test_rows = manifest.indices(Split::Test);
    let test_wanted = wanted
        .iter()
        .filter(|(set, _)| *set == "test")
        .map(|(_, p)| *p);
    if !test_wanted.eq(test_rows.iter().map(|&r| manifest.entries[r].path.as_str())) {
        return Err(Error::InvalidParameter(
            "the test scores are not the prepared split's test images, in its order".into(),
        ));
    }
    let batch = run.config.batch_size;
    let (test_logits, test_features) =
        cache_outputs(&run.model, &prepared.cache, &test_rows, batch, device);
    let files: Vec<PathBuf> = wanted
        .iter()
        .filter(|(set, _)| *set == "unseen")
        .map(|(_, p)| prepared.config.data_dir.join(p))
        .collect();
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
    pub fn describe(&self) -> crate::report::Markdown {
        let (r, c) = (&self.record, &self.config);
        crate::report::Markdown(format!(
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
            self.dir.display(),
            s = c.model.image_size,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::Augmentation;

    /// A `[3, 4, 4]` image whose value is `100·c + 10·y + x`.
    fn image() -> Vec<f32> {
        (0..3)
            .flat_map(|c| {
                (0..4).flat_map(move |y| (0..4).map(move |x| (100 * c + 10 * y + x) as f32))
            })
            .collect()
    }

    fn moved(flip: bool, dx: isize, dy: isize) -> Vec<f32> {
        let mut x = image();
        Augmentation { flip, dx, dy }.apply(&mut x, 4, &mut [0.0; 16]);
        x
    }

    #[test]
    fn no_move_is_the_identity_and_moves_shift_mirror_and_repeat_edges() {
        assert_eq!(moved(false, 0, 0), image());
        let right = moved(false, 1, 0);
        // Row 0 of channel 0: the left edge repeated, then 0, 1, 2.
        assert_eq!(&right[..4], &[0.0, 0.0, 1.0, 2.0]);
        let down = moved(false, 0, 2);
        assert_eq!(&down[..4], &[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(&down[12..16], &[10.0, 11.0, 12.0, 13.0]);
        let mirrored = moved(true, 0, 0);
        assert_eq!(&mirrored[16..20], &[103.0, 102.0, 101.0, 100.0]);
    }

    #[test]
    fn draws_are_reproducible_and_within_the_shift() {
        let a: Vec<_> = (0..200).map(|r| Augmentation::draw(42, 3, r, 8)).collect();
        let b: Vec<_> = (0..200).map(|r| Augmentation::draw(42, 3, r, 8)).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|m| m.dx.abs() <= 8 && m.dy.abs() <= 8));
        let flips = a.iter().filter(|m| m.flip).count();
        assert!((60..140).contains(&flips), "{flips} of 200 flipped");
        let other_epoch: Vec<_> = (0..200).map(|r| Augmentation::draw(42, 4, r, 8)).collect();
        assert_ne!(a, other_epoch);
        assert!(a.iter().any(|m| m.dx != 0) && a.iter().any(|m| m.dy < 0));
    }
}
