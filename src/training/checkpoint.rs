//! The checkpoint a run leaves after every epoch, so that an interrupted
//! training resumes where it stopped, with the same result.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::io::{read_json, write_atomic_with, write_bytes_atomic};
use crate::training::{
    CONFIG_FILE, EpochRecord, HISTORY_FILE, MODEL_FILE, record_error, save_module,
};

pub(crate) const CHECKPOINT_DIR: &str = "checkpoint";

pub(crate) const CHECKPOINT_STATE: &str = "state.json";

/// What the checkpoint commits after each epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CheckpointState {
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    best_val_loss: f64,
    pub stopped_early: bool,
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
    pub(crate) fn record(&mut self, epoch: EpochRecord, patience: Option<usize>) -> bool {
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
pub(crate) fn load_checkpoint<M: Module>(
    dir: &Path,
    model: M,
    optimizer: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer, CheckpointState)> {
    let unusable = |path: &Path, e: &dyn std::fmt::Display| Error::CheckpointUnusable {
        path: path.to_path_buf(),
        reason: e.to_string(),
        checkpoint: dir.to_path_buf(),
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
/// resuming continues).
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

/// Epoch-numbered weights and optimizer state, then the state file that
/// names them: a kill at any point leaves the previous epoch's checkpoint
/// whole.
pub(crate) fn save_checkpoint<M: Module>(
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
