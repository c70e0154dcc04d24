//! Report section 5, `train_autoencoder`: Adam and MSE, validation every
//! epoch, the best-on-validation weights kept and restored at the end.
//! A structural-similarity term can join the training objective
//! ([`TrainingConfig::ssim_weight`]; Improved3's default); the loss recorded in `history.csv`, the
//! validation loss that picks the best epoch and every score stay the MSE.
//!
//! A run directory holds `config.json` (this module's [`TrainingConfig`]),
//! `model.bpk` (the restored best weights, burn's burnpack format) and
//! `history.csv`. While training, every epoch leaves a checkpoint
//! (`checkpoint/`): weights, Adam's state and the history, committed by one
//! atomic write of `checkpoint/state.json`, so a killed run resumes with
//! `--resume` exactly where its last finished epoch left it.
//!
//! Determinism: weights are initialised from the seed, and epoch `e`'s batch
//! order is a ChaCha8 stream `e` of the seed, so a resumed run draws the same
//! batches as an uninterrupted one. On CPU the same seed gives the same loss
//! history.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::config::Config;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{ImageBatcher, ImageCache, Prepared, Split};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{read_csv, read_json, write_atomic, write_atomic_with, write_bytes_atomic};
use crate::model::{Autoencoder, ModelConfig};
use crate::optim::FusedAdam;
use crate::precision::{Precision, autocast};
use crate::progress::{Progress, Step};

pub const CONFIG_FILE: &str = "config.json";
pub const MODEL_FILE: &str = "model.bpk";
pub const HISTORY_FILE: &str = "history.csv";
const CHECKPOINT_DIR: &str = "checkpoint";
const CHECKPOINT_STATE: &str = "state.json";

/// Training hyper-parameters, saved as `config.json` beside the weights.
#[derive(Config, Debug, PartialEq)]
pub struct TrainingConfig {
    pub model: ModelConfig,
    #[config(default = 20)]
    pub epochs: usize,
    #[config(default = 64)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Keras's default, which the report used (burn's is 1e-5).
    #[config(default = 1e-7)]
    pub adam_epsilon: f32,
    #[config(default = 42)]
    pub seed: u64,
    /// Stop after this many epochs without a better validation loss.
    #[config(default = "None")]
    pub early_stopping_patience: Option<usize>,
    /// Weight of `1 − SSIM` in the objective; `None` takes
    /// [`crate::model::Architecture::default_ssim_weight`].
    #[config(default = "None")]
    pub ssim_weight: Option<f64>,
    /// The convolutions' arithmetic ([`crate::precision`]); `auto` is
    /// resolved on the training device before the run is keyed.
    #[config(default = "Precision::Auto")]
    pub precision: Precision,
}

impl TrainingConfig {
    /// Adam with this configuration's epsilon (the learning rate is given
    /// per step).
    pub fn optimizer(&self) -> ModuleOptimizer {
        FusedAdam::new(self.adam_epsilon).init()
    }

    /// The same settings with every architecture default written out
    /// (code width, SSIM weight): what a run records and is keyed by, so
    /// that leaving a default implicit or spelling it out is one run.
    pub fn resolved(&self) -> Self {
        let mut config = self.clone();
        config.model.encoding_dim = Some(self.model.code_width());
        config.ssim_weight = Some(self.ssim_weight());
        config
    }

    /// [`Self::resolved`], with the precision resolved on `device` (and
    /// the reason for it).
    pub fn resolved_on(&self, device: &Device) -> (Self, String) {
        let (precision, reason) = self.precision.resolve(device);
        (self.resolved().with_precision(precision), reason)
    }

    /// The SSIM weight in use.
    pub fn ssim_weight(&self) -> f64 {
        self.ssim_weight
            .unwrap_or_else(|| self.model.architecture.default_ssim_weight())
    }

    pub fn check(&self) -> Result<()> {
        self.model.check()?;
        if !(self.ssim_weight() >= 0.0 && self.ssim_weight().is_finite()) {
            return Err(Error::InvalidParameter(format!(
                "SSIM weight {} must be finite and non-negative",
                self.ssim_weight()
            )));
        }
        self.schedule().check(self.learning_rate)?;
        Ok(())
    }
}

/// One row of `history.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub seconds: f64,
}

/// What the checkpoint commits after each epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    best_val_loss: f64,
    pub stopped_early: bool,
}

/// Options that do not change the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainOptions {
    /// Continue from the run directory's checkpoint.
    pub resume: bool,
    pub show_progress: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            resume: false,
            show_progress: true,
        }
    }
}

/// A finished training run.
#[derive(Debug)]
pub struct TrainedModel {
    pub config: TrainingConfig,
    /// The best-on-validation weights, in inference mode.
    pub model: Autoencoder,
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
}

/// One optimisation step on a batch of clean images: the objective is the
/// MSE of `model(images)` against `images`, plus `ssim_weight · (1 − SSIM)`
/// when `ssim_weight > 0`; then backward and an optimizer step. Returns the
/// updated model and the batch MSE, detached and still on the device
/// (reading it syncs).
pub fn train_step(
    model: Autoencoder,
    optimizer: &mut ModuleOptimizer,
    images: Tensor<4>,
    ssim_weight: f64,
    learning_rate: f64,
) -> (Autoencoder, Tensor<1>) {
    let reconstructions = model.forward(images.clone());
    let mse = (reconstructions.clone() - images.clone())
        .powi_scalar(2)
        .mean();
    let objective = if ssim_weight > 0.0 {
        let dissimilarity = ssim(reconstructions, images).neg().add_scalar(1.0);
        mse.clone() + dissimilarity.mul_scalar(ssim_weight)
    } else {
        mse.clone()
    };
    let grads = GradientsParams::from_grads(objective.backward(), &model);
    let model = optimizer.step(learning_rate, model, grads);
    (model, mse.detach().inner())
}

/// Side of the SSIM window.
pub const SSIM_WINDOW: usize = 7;

/// Mean structural similarity (Wang et al. 2004) of two batches of images in
/// [0, 1], per channel, over every 7×7 window that fits (uniform weights,
/// C₁ = 0.01², C₂ = 0.03², population variances): 1 for identical images.
/// Unlike the MSE it compares local means, contrasts and correlations
/// separately, so it penalises blurred structure more than a uniform
/// offset.
///
/// # Shapes
/// - inputs: `[batch, channels, H, W]` each, H and W at least 7
/// - output: `[1]`
pub fn ssim(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    const C1: f64 = 1e-4;
    const C2: f64 = 9e-4;
    let window = |x: Tensor<4>| {
        avg_pool2d(
            x,
            AvgPoolOptions::new([SSIM_WINDOW, SSIM_WINDOW]).with_stride([1, 1]),
        )
    };
    let (mean_a, mean_b) = (window(a.clone()), window(b.clone()));
    let var_a = window(a.clone().powi_scalar(2)) - mean_a.clone().powi_scalar(2);
    let var_b = window(b.clone().powi_scalar(2)) - mean_b.clone().powi_scalar(2);
    let covariance = window(a * b) - mean_a.clone() * mean_b.clone();
    let numerator = (mean_a.clone() * mean_b.clone())
        .mul_scalar(2.0)
        .add_scalar(C1)
        * covariance.mul_scalar(2.0).add_scalar(C2);
    let denominator = (mean_a.powi_scalar(2) + mean_b.powi_scalar(2)).add_scalar(C1)
        * (var_a + var_b).add_scalar(C2);
    (numerator / denominator).mean()
}

/// Per-image MSE, the report's `compute_reconstruction_error`.
///
/// # Shapes
/// - inputs: `[batch, 3, S, S]` each
/// - output: `[batch]`
pub fn per_image_mse(originals: Tensor<4>, reconstructions: Tensor<4>) -> Tensor<1> {
    let batch = originals.dims()[0];
    (reconstructions - originals)
        .powi_scalar(2)
        .reshape([batch as i32, -1])
        .mean_dim(1)
        .reshape([batch])
}

/// Mean per-image MSE of `model` over `rows`, in batches.
pub fn mean_error(
    model: &Autoencoder,
    cache: &ImageCache,
    rows: &[usize],
    batch_size: usize,
    device: &Device,
) -> f64 {
    let mut sum: Option<Tensor<1>> = None;
    for chunk in rows.chunks(batch_size) {
        let x = ImageBatcher::new(cache).batch(chunk, device);
        let batch_sum = per_image_mse(x.clone(), model.forward(x)).sum();
        sum = Some(match sum {
            Some(s) => s + batch_sum,
            None => batch_sum,
        });
    }
    sum.map_or(f64::NAN, |s| {
        f64::from(s.into_scalar::<f32>()) / rows.len() as f64
    })
}

/// Trains `config.model` on the prepared run's train split, validating on
/// its validation split, and writes the run directory.
pub fn train(
    run_dir: &Path,
    prepared: &Prepared,
    config: &TrainingConfig,
    device: &Device,
    options: TrainOptions,
) -> Result<TrainedModel> {
    let (train_rows, val_rows) = check_inputs(prepared, config)?;
    claim_run_dir(run_dir, config, options.resume)?;
    let _autocast = autocast(config.precision.resolve(device).0);
    let train_device = device.clone().autodiff();
    train_device.seed(config.seed);
    let objective = Reconstruction {
        cache: &prepared.cache,
        val_rows,
        config,
        train_device: &train_device,
        device,
    };
    let state = fit(
        run_dir,
        &objective,
        config.schedule(),
        config.model.init(&train_device)?,
        config.optimizer(),
        train_rows,
        options,
    )?;
    let (model, state) = publish(run_dir, config.model.init(device)?, state)?;
    Ok(TrainedModel {
        config: config.clone(),
        model,
        history: state.history,
        best_epoch: state.best_epoch,
        stopped_early: state.stopped_early,
    })
}

/// The autoencoders' objective ([`train_step`]), validated by the MSE.
struct Reconstruction<'a> {
    cache: &'a ImageCache,
    val_rows: Vec<usize>,
    config: &'a TrainingConfig,
    train_device: &'a Device,
    device: &'a Device,
}

impl Objective for Reconstruction<'_> {
    type Model = Autoencoder;

    fn step(
        &self,
        model: Autoencoder,
        optimizer: &mut ModuleOptimizer,
        rows: &[usize],
        _epoch: usize,
    ) -> (Autoencoder, Tensor<1>) {
        let x = ImageBatcher::new(self.cache).batch(rows, self.train_device);
        let (ssim_weight, lr) = (self.config.ssim_weight(), self.config.learning_rate);
        train_step(model, optimizer, x, ssim_weight, lr)
    }

    fn validation_loss(&self, model: &Autoencoder) -> f64 {
        let batch = self.config.batch_size;
        mean_error(
            &model.valid(),
            self.cache,
            &self.val_rows,
            batch,
            self.device,
        )
    }
}

/// The epochs, batch order and stopping rule of a resumable run: what the
/// autoencoders and the classifier share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    pub epochs: usize,
    pub batch_size: usize,
    /// Seeds the batch order (stream `e` for epoch `e`).
    pub seed: u64,
    pub patience: Option<usize>,
}

impl Schedule {
    /// Rejects zero epochs or batch size, zero patience and a learning
    /// rate that is not positive and finite.
    pub(crate) fn check(&self, learning_rate: f64) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::InvalidParameter(
                "epochs 0: must be at least 1".into(),
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::InvalidParameter(
                "batch size 0: must be at least 1".into(),
            ));
        }
        if !(learning_rate > 0.0 && learning_rate.is_finite()) {
            return Err(Error::InvalidParameter(format!(
                "learning rate {learning_rate}: must be positive and finite"
            )));
        }
        if self.patience == Some(0) {
            return Err(Error::InvalidParameter(
                "early-stopping patience must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl TrainingConfig {
    pub(crate) fn schedule(&self) -> Schedule {
        Schedule {
            epochs: self.epochs,
            batch_size: self.batch_size,
            seed: self.seed,
            patience: self.early_stopping_patience,
        }
    }
}

/// What a model is trained on: one optimisation step on a batch of cache
/// rows, and the loss that picks the best epoch.
pub(crate) trait Objective {
    type Model: Module;

    /// One step on the batch `rows` of epoch `epoch`: the updated model and
    /// the batch's mean loss, detached and still on the device.
    fn step(
        &self,
        model: Self::Model,
        optimizer: &mut ModuleOptimizer,
        rows: &[usize],
        epoch: usize,
    ) -> (Self::Model, Tensor<1>);

    /// The validation loss of `model` (lower is better).
    fn validation_loss(&self, model: &Self::Model) -> f64;
}

/// The training loop every model shares: epochs of shuffled batches, a
/// validation loss per epoch, the best weights and a checkpoint after each
/// epoch, early stopping. Resumes from `run_dir`'s checkpoint when
/// `options.resume`; the caller has claimed `run_dir` and seeded the
/// device, and [`publish`]es the result.
pub(crate) fn fit<O: Objective>(
    run_dir: &Path,
    objective: &O,
    schedule: Schedule,
    model: O::Model,
    optimizer: ModuleOptimizer,
    train_rows: Vec<usize>,
    options: TrainOptions,
) -> Result<CheckpointState> {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    let (mut model, mut optimizer, mut state) =
        if options.resume && checkpoint_dir.join(CHECKPOINT_STATE).exists() {
            load_checkpoint(&checkpoint_dir, model, optimizer)?
        } else {
            (model, optimizer, CheckpointState::default())
        };
    let batches_per_epoch = train_rows.len().div_ceil(schedule.batch_size);
    let progress = Progress::new(
        options.show_progress,
        TRAINING,
        (schedule.epochs * batches_per_epoch) as u64,
    )
    .starting_at((state.history.len() * batches_per_epoch) as u64);
    let mut order = train_rows;
    while state.history.len() < schedule.epochs && !state.stopped_early {
        let epoch = state.history.len() + 1;
        let started = Instant::now();
        shuffle_for_epoch(&mut order, schedule.seed, epoch);
        progress.set_prefix(format!("epoch {epoch}/{}", schedule.epochs));
        // The loss shown is this epoch's, once its first batches are in.
        progress.set_message(String::new());
        let train_loss;
        (model, train_loss) = run_epoch(
            objective,
            model,
            &mut optimizer,
            &order,
            schedule,
            epoch,
            &progress,
        );
        let val_loss = objective.validation_loss(&model);
        if !train_loss.is_finite() || !val_loss.is_finite() {
            return Err(Error::InvalidParameter(format!(
                "training diverged at epoch {epoch} (train loss {train_loss}, validation loss \
                 {val_loss}); try a lower --lr"
            )));
        }
        let record = EpochRecord {
            epoch,
            train_loss,
            val_loss,
            seconds: started.elapsed().as_secs_f64(),
        };
        progress.println(&format!(
            "epoch {epoch}/{}: train loss {train_loss:.6}, validation loss {val_loss:.6}",
            schedule.epochs
        ));
        if state.record(record, schedule.patience) {
            save_module(&model, &checkpoint_dir.join("best.bpk"))?;
        }
        save_checkpoint(&checkpoint_dir, epoch, &model, &optimizer, &state)?;
    }
    progress.finish();
    Ok(state)
}

/// The train and validation rows, once the inputs are known to fit.
fn check_inputs(prepared: &Prepared, config: &TrainingConfig) -> Result<(Vec<usize>, Vec<usize>)> {
    config.check()?;
    if prepared.cache.size() != config.model.image_size {
        return Err(Error::InvalidParameter(format!(
            "the prepared images are {0}x{0} but the model expects {1}x{1}",
            prepared.cache.size(),
            config.model.image_size
        )));
    }
    let train_rows = prepared.manifest.indices(Split::Train);
    let val_rows = prepared.manifest.indices(Split::Validation);
    if train_rows.is_empty() || val_rows.is_empty() {
        return Err(Error::InvalidParameter(
            "training needs non-empty train and validation splits".into(),
        ));
    }
    Ok((train_rows, val_rows))
}

/// Writes `config.json` into `run_dir`, refusing an unfinished run without
/// `resume` and a resume with other settings.
pub(crate) fn claim_run_dir<C: Config + PartialEq + std::fmt::Display>(
    run_dir: &Path,
    config: &C,
    resume: bool,
) -> Result<()> {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    let config_path = run_dir.join(CONFIG_FILE);
    if checkpoint_dir.join(CHECKPOINT_STATE).exists() && !resume {
        return Err(Error::InvalidParameter(format!(
            "{} holds an unfinished run: pass --resume to continue it, --restart to discard it \
             and start over, or choose another --out",
            run_dir.display()
        )));
    }
    if resume && config_path.exists() {
        let saved = C::load(&config_path).map_err(|e| record_error(&config_path, e))?;
        if &saved != config {
            return Err(Error::InvalidParameter(format!(
                "--resume with settings other than those in {} (differing: {}): resume with \
                 the same settings, pass --restart to discard the unfinished run, or choose \
                 another --out",
                config_path.display(),
                config_differences(&config_path, config).join(", ")
            )));
        }
    }
    std::fs::create_dir_all(&checkpoint_dir).at(&checkpoint_dir)?;
    write_bytes_atomic(&config_path, config.to_string().as_bytes())
}

impl Default for CheckpointState {
    fn default() -> Self {
        Self {
            history: Vec::new(),
            best_epoch: 0,
            best_val_loss: f64::INFINITY,
            stopped_early: false,
        }
    }
}

impl CheckpointState {
    /// Appends an epoch; true when it is the best so far (its weights are
    /// to be kept). Sets `stopped_early` after `patience` epochs without one.
    fn record(&mut self, epoch: EpochRecord, patience: Option<usize>) -> bool {
        self.history.push(epoch);
        if epoch.val_loss < self.best_val_loss {
            self.best_val_loss = epoch.val_loss;
            self.best_epoch = epoch.epoch;
            return true;
        }
        if patience.is_some_and(|p| epoch.epoch - self.best_epoch >= p) {
            self.stopped_early = true;
        }
        false
    }
}

/// The model, optimizer and state of the last finished epoch.
fn load_checkpoint<M: Module>(
    dir: &Path,
    model: M,
    optimizer: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, CheckpointState)> {
    let unusable = |path: &Path, e: &dyn std::fmt::Display| Error::Corrupt {
        path: path.to_path_buf(),
        reason: format!(
            "{e}. The unfinished run cannot be resumed: `train --restart` starts it over, or \
             delete {} to do so by hand",
            dir.display()
        ),
    };
    let state_path = dir.join(CHECKPOINT_STATE);
    let state: CheckpointState = read_json(&state_path).map_err(|e| unusable(&state_path, &e))?;
    let epoch = state.history.len();
    let model_path = dir.join(format!("model-{epoch}.bpk"));
    let model = model
        .try_load_file(&model_path)
        .map_err(|e| unusable(&model_path, &e))?;
    let optimizer_path = dir.join(format!("optimizer-{epoch}.bpk"));
    let optimizer = optimizer
        .load(&optimizer_path)
        .map_err(|e| unusable(&optimizer_path, &e))?;
    Ok((model, optimizer, state))
}

/// Whether `run_dir` holds a committed checkpoint (an unfinished run that
/// `--resume` continues).
pub(crate) fn has_checkpoint(run_dir: &Path) -> bool {
    run_dir.join(CHECKPOINT_DIR).join(CHECKPOINT_STATE).exists()
}

/// Removes an earlier attempt's training files from `run_dir`: checkpoint,
/// settings, weights and history.
pub(crate) fn discard_training(run_dir: &Path) -> Result<()> {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    if checkpoint_dir.exists() {
        std::fs::remove_dir_all(&checkpoint_dir).at(&checkpoint_dir)?;
    }
    for name in [CONFIG_FILE, MODEL_FILE, HISTORY_FILE] {
        let path = run_dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).at(&path)?;
        }
    }
    Ok(())
}

/// The settings in which the configuration saved at `path` differs from
/// `config`, as `name: saved → now`; the whole file when it cannot be
/// read.
pub(crate) fn config_differences<C: std::fmt::Display>(path: &Path, config: &C) -> Vec<String> {
    let saved: serde_json::Value = match read_json(path) {
        Ok(saved) => saved,
        Err(e) => return vec![format!("{e}")],
    };
    let now: serde_json::Value = serde_json::from_str(&config.to_string()).unwrap_or_default();
    let mut differences = Vec::new();
    json_differences("", &saved, &now, &mut differences);
    differences
}

/// Appends the leaves in which `a` and `b` differ, by dotted name.
fn json_differences(
    name: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(a_fields), Value::Object(b_fields)) => {
            let mut keys: Vec<&String> = a_fields.keys().chain(b_fields.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if name.is_empty() {
                    key.clone()
                } else {
                    format!("{name}.{key}")
                };
                let null = Value::Null;
                let a = a_fields.get(key).unwrap_or(&null);
                let b = b_fields.get(key).unwrap_or(&null);
                json_differences(&child, a, b, out);
            }
        }
        _ if a != b => out.push(format!("{name}: {a} in the run, {b} now")),
        _ => {}
    }
}

/// The training's progress: batches of every epoch, the loss so far.
const TRAINING: Step = Step {
    name: "train",
    unit: "batches",
    bar: "train {prefix} {msg} {bar:30} {pos}/{len} batches, {elapsed} elapsed, ETA {eta}",
};

/// Epoch `epoch`'s batch order: stream `epoch` of the seed over the sorted
/// rows, so that a resumed run draws the same batches.
fn shuffle_for_epoch(order: &mut [usize], seed: u64, epoch: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    order.sort_unstable();
    order.shuffle(&mut rng);
}

/// One pass over `order` in batches; returns the model and the mean
/// training loss per image.
fn run_epoch<O: Objective>(
    objective: &O,
    mut model: O::Model,
    optimizer: &mut ModuleOptimizer,
    order: &[usize],
    schedule: Schedule,
    epoch: usize,
    progress: &Progress,
) -> (O::Model, f64) {
    // Losses stay on the device; one read per epoch (and a few for the
    // progress bar) instead of a host sync per batch.
    let mut loss_sum: Option<Tensor<1>> = None;
    for (i, rows) in order.chunks(schedule.batch_size).enumerate() {
        let (next, loss) = objective.step(model, optimizer, rows, epoch);
        model = next;
        let weighted = loss.mul_scalar(rows.len() as f64);
        loss_sum = Some(match loss_sum {
            Some(s) => s + weighted,
            None => weighted,
        });
        progress.inc(1);
        if i % 16 == 15 {
            let so_far = loss_sum
                .clone()
                .map_or(f32::NAN, |s| s.into_scalar::<f32>());
            let seen = ((i + 1) * schedule.batch_size).min(order.len());
            progress.set_message(format!("loss {:.5}", f64::from(so_far) / seen as f64));
        }
    }
    let sum = loss_sum.map_or(f64::NAN, |s| f64::from(s.into_scalar::<f32>()));
    (model, sum / order.len() as f64)
}

/// Loads the best weights into `fresh` (a model on the inference device),
/// publishes them and the history into `run_dir` and drops the checkpoint.
pub(crate) fn publish<M: Module>(
    run_dir: &Path,
    fresh: M,
    state: CheckpointState,
) -> Result<(M, CheckpointState)> {
    let checkpoint_dir = run_dir.join(CHECKPOINT_DIR);
    let best = fresh
        .try_load_file(checkpoint_dir.join("best.bpk"))
        .map_err(|e| record_error(&checkpoint_dir, e))?;
    save_module(&best, &run_dir.join(MODEL_FILE))?;
    write_history(&run_dir.join(HISTORY_FILE), &state.history)?;
    std::fs::remove_dir_all(&checkpoint_dir).at(&checkpoint_dir)?;
    Ok((best, state))
}

/// Loads a finished run's model and configuration on `device`.
pub fn load_trained(run_dir: &Path, device: &Device) -> Result<(TrainingConfig, Autoencoder)> {
    let config_path = run_dir.join(CONFIG_FILE);
    let config = TrainingConfig::load(&config_path).map_err(|e| Error::Corrupt {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    let model_path = run_dir.join(MODEL_FILE);
    let model = config
        .model
        .init(device)?
        .try_load_file(&model_path)
        .map_err(|e| record_error(&model_path, e))?;
    Ok((config, model))
}

/// Reads `history.csv`.
pub fn read_history(path: &Path) -> Result<Vec<EpochRecord>> {
    read_csv(path)
}

fn write_history(path: &Path, history: &[EpochRecord]) -> Result<()> {
    write_atomic(path, |w| {
        let mut writer = csv::Writer::from_writer(w);
        for row in history {
            writer.serialize(row)?;
        }
        writer.flush().at(path)
    })
}

pub(crate) fn record_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Saves weights through a temporary file and a rename.
fn save_module<M: Module>(model: &M, path: &Path) -> Result<()> {
    write_atomic_with(path, |tmp| {
        model
            .clone()
            .save_file(tmp)
            .map_err(|e| record_error(path, e))
    })
}

/// Epoch-numbered weights and optimizer state, then the state file that
/// names them: a kill at any point leaves the previous epoch's checkpoint
/// whole.
fn save_checkpoint<M: Module>(
    dir: &Path,
    epoch: usize,
    model: &M,
    optimizer: &ModuleOptimizer,
    state: &CheckpointState,
) -> Result<()> {
    let file = |name: &str, e: usize| -> PathBuf { dir.join(format!("{name}-{e}.bpk")) };
    save_module(model, &file("model", epoch))?;
    let optimizer_path = file("optimizer", epoch);
    write_atomic_with(&optimizer_path, |tmp| {
        optimizer
            .save(tmp)
            .map_err(|e| record_error(&optimizer_path, e))
    })?;
    write_bytes_atomic(
        &dir.join(CHECKPOINT_STATE),
        &serde_json::to_vec_pretty(state)?,
    )?;
    if epoch > 1 {
        for name in ["model", "optimizer"] {
            let old = file(name, epoch - 1);
            if old.exists() {
                std::fs::remove_file(&old).at(&old)?;
            }
        }
    }
    Ok(())
}
