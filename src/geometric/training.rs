//! Training the self-supervised detector: the label-aware classifier's
//! network ([`Classifier`]) trained from scratch to tell which
//! [`Transformation`] was applied to a normal image, through the loop every
//! model shares ([`crate::training::fit`]: the same seeds, checkpoints,
//! `--resume`, best-on-validation weights).
//!
//! **A batch holds every rotation of each of its images**, each rotated
//! copy translated by one translation drawn at random (from a hash of the
//! seed, epoch, row and rotation, so a resumed run draws the same). Why:
//! RotNet (Gidaris et al. 2018) found that showing all four rotations of an
//! image together trains better than one random rotation, and batch norm
//! then sees every orientation in equal shares in every batch, so its
//! statistics carry no orientation of their own; the nine translations
//! would multiply a batch by 36, so those are drawn. Against overfitting
//! (2,122 train images at `quick`), a train image is mirrored left to right
//! at random, and with rotations alone each copy can be shifted at random
//! first ([`GeometricTrainingConfig::jitter`]).
//!
//! The validation loss is the same cross-entropy on the validation images'
//! four rotations, each with a translation drawn once for the run (epoch
//! 0), so every epoch is compared on the same inputs. Once trained, the run
//! scores its validation images with the full score (every transformation)
//! and keeps those scores in `run.json`: they calibrate its threshold.
//! A run lives in `runs/geometric-seed<N>-<key>/`, keyed as the
//! classifier's runs are.

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
use crate::geometric::{
    Transformation, Transformations, cache_log_probs, mirror_planes, transformed_batch,
};
use crate::training::{
    NetworkConfig, Objective, Record, RunHeader, RunSlot, Schedule, TrainOptions, TrainedRun,
    claim_run_dir, fit, publish, run_key_of, write_run_record,
};

/// Training settings, saved as `config.json` beside the weights.
#[derive(Config, Debug, PartialEq)]
pub struct GeometricTrainingConfig {
    /// Input side S; must be divisible by 8.
    pub image_size: usize,
    /// Channels of the network's first stage ([`ClassifierConfig::width`]).
    #[config(default = 32)]
    pub width: usize,
    /// Translation as a fraction of the side, rounded to whole pixels: each
    /// quarter-turn is combined with the shifts by `−t, 0, +t` along each
    /// axis (36 transformations); 0 predicts the four rotations alone. The
    /// default is 0: at `quick`, the 36 transformations (shifts by 8 px)
    /// separated the background worse than the rotations alone (unseen
    /// AUROC in `docs/results.md`, "The ladder, further") and cost 9× the
    /// scoring.
    #[config(default = 0.0)]
    pub translation: f64,
    #[config(default = 30)]
    pub epochs: usize,
    /// Images per batch; each brings its four rotations, so the network
    /// sees four times as many inputs.
    #[config(default = 32)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = 42)]
    pub seed: u64,
    /// Stop after this many epochs without a lower validation loss.
    #[config(default = "Some(6)")]
    pub early_stopping_patience: Option<usize>,
    /// Mirror each train image left to right with probability ½ before
    /// transforming it: twice the upright images, against overfitting
    /// (2,122 train images at `quick`).
    #[config(default = true)]
    pub mirror: bool,
    /// Largest random shift of a train copy before its rotation, as a
    /// fraction of the side (border reflected), against overfitting; only
    /// with rotations alone (`translation` 0), where a shift is not a label.
    /// At `quick`, 1/8 raised the unseen AUROC (`docs/results.md`, "The
    /// ladder, further").
    #[config(default = 0.125)]
    pub jitter: f64,
}

impl GeometricTrainingConfig {
    pub fn check(&self) -> Result<()> {
        self.transformations()?;
        if !(0.0..0.5).contains(&self.jitter) || (self.jitter > 0.0 && self.translation > 0.0) {
            return Err(Error::InvalidParameter(format!(
                "jitter {} must be within [0, 0.5), and 0 when the translations are labels \
                 (translation {})",
                self.jitter, self.translation
            )));
        }
        self.network().check()?;
        self.schedule().check(self.learning_rate)
    }

    /// The transformations the network predicts.
    pub fn transformations(&self) -> Result<Transformations> {
        let set = Transformations::of_fraction(self.translation, self.image_size)?;
        if set.shift() == 0 && self.translation > 0.0 {
            return Err(Error::InvalidParameter(format!(
                "translation {} of {} px rounds to no shift: use 0 for rotations alone",
                self.translation, self.image_size
            )));
        }
        Ok(set)
    }

    /// The network: the classifier's, one class per transformation.
    pub fn network(&self) -> ClassifierConfig {
        let classes = self.transformations().map_or(4, Transformations::len);
        ClassifierConfig::new(self.image_size, classes).with_width(self.width)
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

/// `run.json` of a geometric run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeometricRecord {
    #[serde(flatten)]
    pub header: RunHeader,
    pub seed: u64,
    /// How many transformations the network tells apart (4 or 36).
    pub transformations: usize,
    /// The translation, pixels (0: rotations alone).
    pub shift: usize,
    pub parameters: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub train_s: f64,
    /// Top-1 accuracy of the best weights at telling every transformation
    /// of every validation image.
    pub validation_accuracy: f64,
    /// The score of each validation image (normal only): the threshold
    /// for new images is a percentile of these.
    pub validation_scores: Vec<f64>,
    pub resize: Resize,
}

impl Record for GeometricRecord {
    const KIND: &'static str = "geometric";

    fn header(&self) -> &RunHeader {
        &self.header
    }
}

/// A finished geometric run, loaded.
pub type TrainedGeometric = TrainedRun<GeometricTrainingConfig>;

impl NetworkConfig for GeometricTrainingConfig {
    type Record = GeometricRecord;
    type Network = Classifier;
    const PREFIX: &'static str = "geometric";

    fn seed(&self) -> u64 {
        self.seed
    }

    /// As the classifier's key, the array led by `"geometric"`.
    fn key(&self, manifest_sha256: &str, resize: Resize, crate_version: &str) -> Result<String> {
        run_key_of(&(
            "geometric",
            self,
            manifest_sha256,
            resize.description(),
            crate_version,
        ))
    }

    fn init_network(&self, device: &Device) -> Result<Classifier> {
        self.network().init(device)
    }
}

/// The geometric run of `config` on `prepared` under `runs_dir`: loaded
/// when finished with the same key, else trained (resuming its checkpoint).
pub fn trained_geometric(
    runs_dir: &Path,
    prepared: &Prepared,
    config: &GeometricTrainingConfig,
    device: &Device,
    show_progress: bool,
) -> Result<TrainedGeometric> {
    let train = |slot: &RunSlot, options| train_geometric(slot, prepared, config, device, options);
    TrainedGeometric::finished_or_trained(runs_dir, prepared, config, device, show_progress, train)
}

impl TrainedGeometric {
    /// The transformations the run's network predicts.
    pub fn transformations(&self) -> Transformations {
        Transformations::new(self.record.shift)
    }
}

/// A SplitMix64 hash of the seed, epoch, row and rotation: which
/// translation a rotated copy gets (and, for `turn` 4, whether the image is
/// mirrored), the same in a resumed run.
fn draw(seed: u64, epoch: usize, row: usize, turn: usize, count: usize) -> usize {
    let mut z = seed
        ^ ((epoch as u64) << 40)
        ^ (row as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ ((turn as u64) << 20);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z % count as u64) as usize
}

/// The four rotated copies of cache row `row` for `epoch`: transformation
/// indices, each rotation with a drawn translation.
pub(crate) fn drawn_indices(
    set: Transformations,
    seed: u64,
    epoch: usize,
    row: usize,
) -> [usize; 4] {
    let count = set.translation_count();
    std::array::from_fn(|turn| turn + 4 * draw(seed, epoch, row, turn, count))
}

/// Cross-entropy of the transformation on batches of every rotation of each
/// image, validated on the validation images' rotations.
struct Prediction<'a> {
    cache: &'a ImageCache,
    set: Transformations,
    val_rows: Vec<usize>,
    config: &'a GeometricTrainingConfig,
    train_device: &'a Device,
    device: &'a Device,
}

impl Prediction<'_> {
    /// The rotated and translated copies of `rows` for `epoch`, and their
    /// transformation indices.
    ///
    /// # Shapes
    /// - output: `[4 · rows.len(), 3, S, S]` and `[4 · rows.len()]`
    fn batch(&self, rows: &[usize], epoch: usize, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let s = self.cache.size();
        let mut images = vec![0f32; rows.len() * 3 * s * s];
        self.cache.write_batch_nchw(rows, &mut images);
        // Epoch 0 (validation) is never mirrored.
        if self.config.mirror && epoch > 0 {
            for (image, &row) in images.chunks_exact_mut(3 * s * s).zip(rows) {
                if draw(self.config.seed, epoch, row, 4, 2) == 1 {
                    mirror_planes(image, s);
                }
            }
        }
        let indices: Vec<[usize; 4]> = rows
            .iter()
            .map(|&r| drawn_indices(self.set, self.config.seed, epoch, r))
            .collect();
        let jitter = (self.config.jitter * s as f64).round() as usize;
        let span = 2 * jitter + 1;
        let transforms: Vec<Vec<Transformation>> = (indices.iter().zip(rows))
            .map(|(copies, &row)| {
                (copies.iter().enumerate())
                    .map(|(k, &t)| {
                        let mut t = self.set.get(t);
                        if jitter > 0 && epoch > 0 {
                            let j = draw(self.config.seed, epoch, row, 8 + k, span * span);
                            t.dx = (j % span) as isize - jitter as isize;
                            t.dy = (j / span) as isize - jitter as isize;
                        }
                        t
                    })
                    .collect()
            })
            .collect();
        let x = transformed_batch(&images, s, &transforms, device);
        let targets: Vec<i64> = indices.iter().flatten().map(|&t| t as i64).collect();
        let n = targets.len();
        (x, Tensor::from_data(TensorData::new(targets, [n]), device))
    }
}

impl Objective for Prediction<'_> {
    type Model = Classifier;

    fn step(
        &self,
        model: Classifier,
        optimizer: &mut ModuleOptimizer,
        rows: &[usize],
        epoch: usize,
    ) -> (Classifier, Tensor<1>) {
        let (x, targets) = self.batch(rows, epoch, self.train_device);
        let loss = CrossEntropyLossConfig::new()
            .init(self.train_device)
            .forward(model.forward(x), targets);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = optimizer.step(self.config.learning_rate, model, grads);
        (model, loss.detach().inner())
    }

    fn validation_loss(&self, model: &Classifier) -> f64 {
        let model = model.valid();
        let loss = CrossEntropyLossConfig::new().init(self.device);
        let mut sum = 0.0;
        for rows in self.val_rows.chunks(self.config.batch_size) {
            // Epoch 0: the same translations every epoch.
            let (x, targets) = self.batch(rows, 0, self.device);
            let batch = loss.forward(model.forward(x), targets);
            sum += f64::from(batch.into_scalar::<f32>()) * rows.len() as f64;
        }
        sum / self.val_rows.len() as f64
    }
}

/// Trains on `prepared`'s train split into `dir` and records the run.
fn train_geometric(
    slot: &RunSlot,
    prepared: &Prepared,
    config: &GeometricTrainingConfig,
    device: &Device,
    options: TrainOptions,
) -> Result<TrainedGeometric> {
    let dir = &slot.dir;
    config.check()?;
    if prepared.cache.size() != config.image_size {
        return Err(Error::InvalidParameter(format!(
            "the split's images are {} px; the geometric detector is configured for {} px",
            prepared.cache.size(),
            config.image_size
        )));
    }
    let set = config.transformations()?;
    let (train_rows, val_rows) = (
        prepared.manifest.indices(Split::Train),
        prepared.manifest.indices(Split::Validation),
    );
    if train_rows.is_empty() || val_rows.is_empty() {
        return Err(Error::InvalidParameter(
            "the geometric detector needs train and validation images".into(),
        ));
    }
    claim_run_dir(dir, config, options.resume)?;
    // The split beside the weights, as the classifier's run keeps it.
    prepared.record_in(dir)?;
    let started = Instant::now();
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let objective = Prediction {
        cache: &prepared.cache,
        set,
        val_rows,
        config,
        train_device: &train_device,
        device,
    };
    // burn's default ε.
    let optimizer = FusedAdam::new(1e-5).init();
    let model = config.network().init(&train_device)?;
    let state = fit(
        dir,
        &objective,
        config.schedule(),
        model,
        optimizer,
        train_rows,
        options,
    )?;
    let (model, state) = publish(dir, config.network().init(device)?, state)?;
    let log_probs = cache_log_probs(&model, set, &prepared.cache, &objective.val_rows, device);
    let record = GeometricRecord {
        header: slot.header(&prepared.manifest_sha256, device_name(device)),
        seed: config.seed,
        transformations: set.len(),
        shift: set.shift(),
        parameters: model.num_params(),
        epochs_run: state.history.len(),
        best_epoch: state.best_epoch,
        train_s: started.elapsed().as_secs_f64(),
        validation_accuracy: log_probs.accuracy(),
        validation_scores: log_probs.scores(),
        resize: prepared.config.preprocess.resize,
    };
    write_run_record(dir, &record)?;
    Ok(TrainedGeometric {
        dir: dir.clone(),
        record,
        config: config.clone(),
        history: state.history,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finished runs are found by their key: a fixed config keys as it did
    /// before the run header (which never enters the key).
    #[test]
    fn the_run_key_is_pinned() {
        let manifest = "0123456789abcdef".repeat(4);
        let config = GeometricTrainingConfig::new(64);
        let key = config.key(&manifest, Resize::Antialiased, "0.2.0").unwrap();
        assert_eq!(key, "7fd38c553e525a67");
    }

    #[test]
    fn drawn_copies_are_the_four_rotations_reproducibly_with_every_translation() {
        let set = Transformations::new(8);
        let mut seen = vec![0usize; set.len()];
        for row in 0..500 {
            let copies = drawn_indices(set, 42, 3, row);
            assert_eq!(copies, drawn_indices(set, 42, 3, row));
            for (turn, &t) in copies.iter().enumerate() {
                assert_eq!(set.get(t).quarter_turns, turn);
                seen[t] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 20), "{seen:?}");
        let other: Vec<_> = (0..50).map(|r| drawn_indices(set, 42, 4, r)).collect();
        let same: Vec<_> = (0..50).map(|r| drawn_indices(set, 42, 3, r)).collect();
        assert_ne!(other, same);
        // Rotations alone: the four pure rotations.
        assert_eq!(
            drawn_indices(Transformations::ROTATIONS, 1, 1, 7),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn the_network_has_one_class_per_transformation() {
        let rotations = GeometricTrainingConfig::new(64);
        assert_eq!(rotations.network().classes, 4);
        assert!(rotations.check().is_ok());
        let config = rotations.with_translation(0.125).with_jitter(0.0);
        assert_eq!(config.network().classes, 36);
        assert_eq!(config.transformations().unwrap().shift(), 8);
        assert!(config.clone().with_jitter(0.1).check().is_err());
        assert!(config.clone().with_translation(0.5).check().is_err());
        assert!(config.clone().with_translation(0.001).check().is_err());
        let odd = GeometricTrainingConfig {
            image_size: 60,
            ..config.clone()
        };
        assert!(odd.check().is_err());
        assert!(config.clone().with_epochs(0).check().is_err());
        assert!(config.check().is_ok());
    }
}
