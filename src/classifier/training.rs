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
//! Training is the autoencoders' loop ([`crate::training`]): the same seeds,
//! checkpoints and `--resume`, cross-entropy on randomly mirrored and
//! shifted images, the best-on-validation weights kept. Held-out classes (the background) never
//! enter training or validation. A run lives in
//! `runs/classifier-seed<N>-<key>/`, keyed like the autoencoders' runs.

use std::path::Path;
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::backend::{FusedAdam, device_name};
use crate::classifier::{Classifier, ClassifierConfig};
use crate::data::{ImageCache, Prepared, Resize, Split};
use crate::error::{Error, Result};
use crate::training::{
    NetworkConfig, Objective, Record, RunHeader, RunSlot, Schedule, TrainOptions, TrainedRun,
    claim_run_dir, fit, publish, run_key_of, write_run_record,
};

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
    pub(crate) fn targets(&self, prepared: &Prepared, rows: &[usize]) -> Result<Vec<i64>> {
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
    #[serde(flatten)]
    pub header: RunHeader,
    pub seed: u64,
    pub classes: ClassIndex,
    pub parameters: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub train_s: f64,
    /// Top-1 accuracy of the best weights on the validation split.
    pub validation_accuracy: f64,
    pub resize: Resize,
}

impl Record for ClassifierRecord {
    const KIND: &'static str = "classifier";

    fn header(&self) -> &RunHeader {
        &self.header
    }
}

/// A finished classifier run, loaded.
pub type TrainedClassifier = TrainedRun<ClassifierTrainingConfig>;

impl NetworkConfig for ClassifierTrainingConfig {
    type Record = ClassifierRecord;
    type Network = Classifier;
    const PREFIX: &'static str = "classifier";

    fn seed(&self) -> u64 {
        self.seed
    }

    /// The hash of the settings, the manifest's hash, the resize method
    /// and the crate version, as one JSON array.
    fn key(&self, manifest_sha256: &str, resize: Resize, crate_version: &str) -> Result<String> {
        run_key_of(&(self, manifest_sha256, resize.description(), crate_version))
    }

    fn init_network(&self, device: &Device) -> Result<Classifier> {
        self.model.init(device)
    }
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
    let train = |slot: &RunSlot, options| train_classifier(slot, prepared, config, device, options);
    TrainedClassifier::finished_or_trained(runs_dir, prepared, config, device, show_progress, train)
}

/// Cross-entropy on flipped train batches, validated by the cross-entropy
/// on the validation split.
pub(crate) struct Classification<'a> {
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
    slot: &RunSlot,
    prepared: &Prepared,
    config: &ClassifierTrainingConfig,
    device: &Device,
    options: TrainOptions,
) -> Result<TrainedClassifier> {
    let dir = &slot.dir;
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
        header: slot.header(&prepared.manifest_sha256, device_name(device)),
        seed: config.seed,
        classes,
        parameters: model.num_params(),
        epochs_run: state.history.len(),
        best_epoch: state.best_epoch,
        train_s: started.elapsed().as_secs_f64(),
        validation_accuracy: accuracy,
        resize: prepared.config.preprocess.resize,
    };
    write_run_record(dir, &record)?;
    Ok(TrainedClassifier {
        dir: dir.clone(),
        record,
        config: config.clone(),
        history: state.history,
        model,
    })
}

/// Top-1 accuracy on the validation split.
pub(crate) fn accuracy(model: &Classifier, objective: &Classification, device: &Device) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Finished runs are found by their key: a fixed config keys as it did
    /// before the run header (which never enters the key).
    #[test]
    fn the_run_key_is_pinned() {
        let config = ClassifierTrainingConfig::new(ClassifierConfig::new(64, 101));
        let manifest = "0123456789abcdef".repeat(4);
        let key = config.key(&manifest, Resize::Bilinear, "0.2.0").unwrap();
        assert_eq!(key, "968085113e2494ac");
    }

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
