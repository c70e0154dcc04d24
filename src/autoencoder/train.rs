//! Report section 5, `train_autoencoder`: Adam and MSE, validation every
//! epoch, the best-on-validation weights kept and restored at the end.
//! A structural-similarity term can join the training objective.

use std::path::Path;

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use crate::autoencoder::{Autoencoder, ModelConfig};
use crate::backend::{ConvLayer, FusedAdam, Precision, autocast};
use crate::data::{ImageBatcher, ImageCache, Prepared, Split};
use crate::error::{Error, Result};
use crate::training::{
    CONFIG_FILE, EpochRecord, MODEL_FILE, Objective, Schedule, TrainOptions, claim_run_dir, fit,
    publish, record_error,
};

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
    /// [`crate::autoencoder::Architecture::default_ssim_weight`].
    #[config(default = "None")]
    pub ssim_weight: Option<f64>,
    /// The convolutions' arithmetic ([`crate::backend`]); `auto` is
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

/// What [`train`] returns: the trained network and how its training went,
/// before the run is scored and recorded as a [`crate::autoencoder::Trained`].
#[derive(Debug)]
pub struct TrainingOutcome {
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
/// offset. It computes in fp32 under any [`autocast`]: a variance is a
/// difference of two window means, which bf16 inputs would swamp.
///
/// # Shapes
/// - inputs: `[batch, channels, H, W]` each, H and W at least 7
/// - output: `[1]`
pub fn ssim(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    const C1: f64 = 1e-4;
    const C2: f64 = 9e-4;
    let _fp32 = autocast(Precision::Fp32);
    let window = window_mean(a.dims()[1], &a.device());
    let window = |x: Tensor<4>| window.apply(x);
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

/// The mean of each [`SSIM_WINDOW`]² window of each of `channels`
/// channels, as a fixed depthwise convolution: through
/// [`crate::backend::conv2d`] it and its input gradient are one oneDNN call
/// each, where `avg_pool2d` and its backward cost more than twice as much
/// (`tests/model.rs` checks it against `avg_pool2d`).
fn window_mean(channels: usize, device: &Device) -> Conv2d {
    let side = SSIM_WINDOW;
    let weight = Tensor::<4>::full(
        [channels, 1, side, side],
        1.0 / (side * side) as f64,
        device,
    );
    let bias = Tensor::<1>::zeros([channels], device);
    Conv2d {
        weight: Param::from_tensor(weight).set_require_grad(false),
        bias: Some(Param::from_tensor(bias).set_require_grad(false)),
        ..Conv2dConfig::new([channels, channels], [side, side])
            .with_groups(channels)
            .init(device)
    }
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
) -> Result<TrainingOutcome> {
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
    Ok(TrainingOutcome {
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
