//! The training loop every trained model shares ([`fit`]): the
//! autoencoders ([`crate::autoencoder::train`]), the label-aware classifier
//! ([`crate::classifier::trained_classifier`]) and the
//! geometric-transformation classifier
//! ([`crate::geometric::trained_geometric`]) each supply an [`Objective`]
//! (one optimisation step on a batch, and the validation loss) and a
//! [`Schedule`] (epochs, batch size, seed, early-stopping patience). The
//! loop runs the epochs, validates after each, keeps the best-on-validation
//! weights and stops early when the validation loss stops improving;
//! [`publish`](crate::training::publish) then restores the best weights
//! into the run directory.
//!
//! A run directory holds `config.json` (the model's training config),
//! `model.bpk` (the restored best weights, burn's burnpack format) and
//! `history.csv`. While training, every epoch leaves a checkpoint
//! (`checkpoint/`): weights, Adam's state and the history, committed by one
//! atomic write of `checkpoint/state.json`, so a killed run resumes
//! ([`TrainOptions::resume`]) exactly where its last finished epoch left
//! it. [`TrainedRun::finished_or_trained`](crate::training::TrainedRun) reuses
//! a finished run of the same settings.
//!
//! Determinism: weights are initialised from the seed, and epoch `e`'s batch
//! order is a ChaCha8 stream `e` of the seed, so a resumed run draws the same
//! batches as an uninterrupted one. On CPU the same seed gives the same loss
//! history.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Tensor;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::io::{Progress, Step};
use crate::training::{
    CHECKPOINT_DIR, CHECKPOINT_STATE, CheckpointState, EpochRecord, load_checkpoint,
    save_checkpoint, save_module,
};

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
/// device, and publishes the result ([`crate::training::publish`]).
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
            return Err(Error::Diverged {
                epoch,
                train_loss,
                val_loss,
            });
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
