//! One training run end to end: prepare the data for the profile, train,
//! score the test split, and record `run.json`. The `train` command, the
//! notebooks and `reproduce` all come through here.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use serde::{Deserialize, Serialize};

use crate::data::{
    PoolSize, PrepareConfig, Prepared, PreprocessConfig, Split, SplitConfig, prepare,
};
use crate::device::{DeviceChoice, SelectedDevice, select_device};
use crate::error::{IoContext, Result};
use crate::evaluate::auroc;
use crate::fsutil::write_bytes_atomic;
use crate::model::{Architecture, ModelConfig};
use crate::profile::Profile;
use crate::score::{SCORES_FILE, ScoreRow, score_split, write_scores};
use crate::train::{TrainOptions, TrainedModel, TrainingConfig, train};

pub const RUN_FILE: &str = "run.json";

/// What to run; `None` fields take the profile's value.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub data_dir: PathBuf,
    pub out: PathBuf,
    pub architecture: Architecture,
    pub profile: Profile,
    pub device: DeviceChoice,
    /// Seed of model initialisation and batch order.
    pub seed: u64,
    /// Seed of the pool draw and the split; `None` uses `seed`. Fixing it
    /// while `seed` varies separates training noise from split noise.
    pub split_seed: Option<u64>,
    pub image_size: Option<usize>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub pool: Option<PoolSize>,
    pub early_stopping_patience: Option<usize>,
    pub cache_dir: PathBuf,
    pub download: bool,
    pub resume: bool,
    pub show_progress: bool,
}

impl RunSpec {
    /// The defaults for a dataset and an output directory.
    pub fn new(data_dir: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            out: out.into(),
            architecture: Architecture::Baseline,
            profile: Profile::Auto,
            device: DeviceChoice::Auto,
            seed: 42,
            split_seed: None,
            image_size: None,
            epochs: None,
            batch_size: None,
            learning_rate: None,
            pool: None,
            early_stopping_patience: None,
            cache_dir: PathBuf::from("data/cache"),
            download: true,
            resume: false,
            show_progress: true,
        }
    }
}

/// Wall-clock seconds of each stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub prepare_s: f64,
    pub train_s: f64,
    pub score_s: f64,
}

/// `run.json`: what ran, where, and the headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub architecture: Architecture,
    pub profile: Profile,
    pub profile_reason: String,
    pub seed: u64,
    pub split_seed: u64,
    pub device: String,
    pub device_reason: String,
    pub crate_version: String,
    pub libtorch_version: String,
    pub git_commit: String,
    pub manifest_sha256: String,
    pub parameters: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub timings: Timings,
    pub test_images: usize,
    pub mean_test_error: f64,
    /// AUROC of the error for the held-out class against the rest of test.
    pub test_auroc: f64,
}

/// A finished run.
#[derive(Debug)]
pub struct RunOutcome {
    pub record: RunRecord,
    pub trained: TrainedModel,
    pub prepared: Prepared,
    pub scores: Vec<ScoreRow>,
    pub device: SelectedDevice,
}

/// The version of the libtorch this binary was built against.
pub fn libtorch_version() -> &'static str {
    option_env!("CALTECH_ANOMALY_LIBTORCH_VERSION").unwrap_or("unknown")
}

/// `git describe --always --dirty` of the crate's checkout, if any.
fn git_commit() -> String {
    std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Prepares, trains, scores and records one run in `spec.out`.
pub fn run(spec: &RunSpec) -> Result<RunOutcome> {
    let device = select_device(spec.device)?;
    let (profile, profile_reason) = spec.profile.resolve(&device);
    let settings = profile.settings();
    if spec.show_progress {
        eprintln!("device: {} ({})", device.choice, device.reason);
        eprintln!("profile: {} ({profile_reason})", profile.name());
    }

    let started = Instant::now();
    let prepare_config = PrepareConfig {
        data_dir: spec.data_dir.clone(),
        run_dir: spec.out.clone(),
        split: SplitConfig {
            seed: spec.split_seed.unwrap_or(spec.seed),
            pool: spec.pool.unwrap_or(settings.pool),
            ..SplitConfig::default()
        },
        preprocess: PreprocessConfig {
            size: spec.image_size.unwrap_or(settings.image_size),
            cache_dir: spec.cache_dir.clone(),
            show_progress: spec.show_progress,
            ..PreprocessConfig::default()
        },
        download: spec.download,
    };
    let prepared = prepare(&prepare_config)?;
    let prepare_s = started.elapsed().as_secs_f64();

    let config = TrainingConfig::new(ModelConfig::new(spec.architecture, prepared.cache.size()))
        .with_epochs(spec.epochs.unwrap_or(settings.epochs))
        .with_batch_size(spec.batch_size.unwrap_or(settings.batch_size))
        .with_learning_rate(spec.learning_rate.unwrap_or(1e-3))
        .with_seed(spec.seed)
        .with_early_stopping_patience(spec.early_stopping_patience);
    let started = Instant::now();
    let trained = train(
        &spec.out,
        &prepared,
        &config,
        &device.device,
        TrainOptions {
            resume: spec.resume,
            show_progress: spec.show_progress,
        },
    )?;
    let train_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let scores = score_split(
        &trained.model,
        &prepared,
        Split::Test,
        config.batch_size,
        &device.device,
    );
    write_scores(&spec.out.join(SCORES_FILE), &scores)?;
    let score_s = started.elapsed().as_secs_f64();

    let errors: Vec<f64> = scores.iter().map(|r| r.error).collect();
    let held_out: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
    let record = RunRecord {
        architecture: spec.architecture,
        profile,
        profile_reason,
        seed: spec.seed,
        split_seed: spec.split_seed.unwrap_or(spec.seed),
        device: device.choice.to_string(),
        device_reason: device.reason.clone(),
        crate_version: env!("CARGO_PKG_VERSION").into(),
        libtorch_version: libtorch_version().into(),
        git_commit: git_commit(),
        manifest_sha256: prepared.manifest_sha256.clone(),
        parameters: trained.model.num_params(),
        epochs_run: trained.history.len(),
        best_epoch: trained.best_epoch,
        timings: Timings {
            prepare_s,
            train_s,
            score_s,
        },
        test_images: scores.len(),
        mean_test_error: errors.iter().sum::<f64>() / errors.len().max(1) as f64,
        test_auroc: auroc(&errors, &held_out),
    };
    write_bytes_atomic(
        &spec.out.join(RUN_FILE),
        &serde_json::to_vec_pretty(&record)?,
    )?;
    Ok(RunOutcome {
        record,
        trained,
        prepared,
        scores,
        device,
    })
}

/// Reads a run's `run.json`.
pub fn read_record(run_dir: &Path) -> Result<RunRecord> {
    let path = run_dir.join(RUN_FILE);
    Ok(serde_json::from_slice(&std::fs::read(&path).at(&path)?)?)
}
