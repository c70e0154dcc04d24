//! Training runs and their identity. A run directory holds one trained
//! model, its test scores and `run.json`; its name carries a key over
//! everything that determines the result (the full [`TrainingConfig`], the
//! split's manifest hash, the preprocessing and the crate version), so a
//! finished run is reused only for the same settings, and other settings
//! get a new directory beside it instead of overwriting it.
//!
//! [`trained`] is the step the notebooks, `refine` and `reproduce` call;
//! [`run`] is the `train` command's (prepare, train and score into one
//! directory the user names).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{
    PoolSize, PrepareConfig, Prepared, PreprocessConfig, Resize, Split, SplitConfig,
    describe_skipped, prepare_split,
};
use crate::detect::{Calibration, ImageScorer, REPORT_PERCENTILE, calibrate};
use crate::device::{DeviceChoice, SelectedDevice, select_device};
// Moved to `device`; the old path keeps working.
pub use crate::device::libtorch_version;
use crate::error::{Error, IoContext, Result};
use crate::evaluate::auroc;
use crate::fsutil::{read_json, write_bytes_atomic};
use crate::model::{Architecture, Autoencoder, ModelConfig};
use crate::precision::{Precision, select_precision};
use crate::profile::Profile;
use crate::report::Markdown;
use crate::score::{
    SCORES_FILE, Scores, UNSEEN_SCORES_FILE, VALIDATION_SCORES_FILE, read_scores, score_files,
    score_split, write_scores,
};
use crate::train::{
    CONFIG_FILE, EpochRecord, HISTORY_FILE, TrainOptions, TrainingConfig, config_differences,
    discard_training, has_checkpoint, load_trained, read_history, train,
};

pub const RUN_FILE: &str = "run.json";
/// Held while a process trains or records the run.
pub const LOCK_FILE: &str = ".lock";

/// What determines a run's result: the run key is its hash.
#[derive(Serialize)]
struct RunIdentity<'a> {
    training: &'a TrainingConfig,
    manifest_sha256: &'a str,
    resize: &'a str,
    crate_version: &'a str,
}

/// The key of training `config` on `prepared`: 16 hex digits of the
/// SHA-256 of [`RunIdentity`]'s JSON, over the [`TrainingConfig::resolved`]
/// settings.
pub fn run_key(prepared: &Prepared, config: &TrainingConfig) -> Result<String> {
    if config.precision == Precision::Auto {
        return Err(Error::InvalidParameter(
            "a run is keyed by its resolved precision: resolve `auto` on the device first \
             (TrainingConfig::resolved_on)"
                .into(),
        ));
    }
    let identity = RunIdentity {
        training: &config.resolved(),
        manifest_sha256: &prepared.manifest_sha256,
        resize: prepared.config.preprocess.resize.description(),
        crate_version: env!("CARGO_PKG_VERSION"),
    };
    let digest = Sha256::digest(serde_json::to_vec(&identity)?);
    Ok(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
}

/// `<model>-seed<N>-<key>`: readable, and unique per key.
pub fn run_name(config: &TrainingConfig, key: &str) -> String {
    format!("{}-seed{}-{key}", config.model.architecture, config.seed)
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
    /// [`run_key`] of the run's settings.
    pub key: String,
    pub architecture: Architecture,
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
    /// How the images were resized (new images are resized the same way).
    #[serde(default)]
    pub resize: Resize,
    /// The threshold new images are judged by (`score --images`): the
    /// report's percentile of the validation errors (normal images only).
    #[serde(default)]
    pub calibration: Option<Calibration>,
    /// The convolutions' arithmetic in training (runs from before the
    /// setting trained in fp32).
    #[serde(default = "fp32")]
    pub precision: Precision,
}

fn fp32() -> Precision {
    Precision::Fp32
}

/// A finished run, loaded.
#[derive(Debug)]
pub struct Trained {
    pub dir: PathBuf,
    pub record: RunRecord,
    pub config: TrainingConfig,
    pub history: Vec<EpochRecord>,
    /// The best-on-validation weights, in inference mode.
    pub model: Autoencoder,
    /// One row per test image, in test order.
    pub scores: Scores,
}

impl Trained {
    /// The model's layers, size and training settings.
    pub fn describe(&self) -> Markdown {
        let (r, c) = (&self.record, &self.config);
        Markdown(format!(
            "**{}** for {s}×{s}×3 images, code width {}: {} parameters, trained {} epochs (best \
             on validation: epoch {}), batch {}, Adam lr {}, SSIM weight {}. Run `{}`.\n\n\
             ```text\n{}\n```",
            r.architecture,
            c.model.code_width(),
            r.parameters,
            r.epochs_run,
            r.best_epoch,
            c.batch_size,
            c.learning_rate,
            c.ssim_weight(),
            self.dir.display(),
            self.model,
            s = c.model.image_size,
        ))
    }

    /// The run's calibrated threshold at the `percentile`-th percentile of
    /// its validation errors: [`Self::recorded_calibration`], else
    /// computed on `prepared` (its split).
    pub fn calibration(
        &self,
        prepared: &Prepared,
        percentile: f64,
        device: &Device,
    ) -> Result<Calibration> {
        match self.recorded_calibration(percentile)? {
            Some(calibration) => Ok(calibration),
            None => calibrate(
                &self.model,
                prepared,
                percentile,
                self.config.batch_size,
                device,
            ),
        }
    }

    /// The threshold at the `percentile`-th percentile of the validation
    /// errors from what the run recorded, without its images: `run.json`'s
    /// threshold, else `validation_scores.csv`. `None` for a run recorded
    /// before validation scores were kept, at another percentile.
    pub fn recorded_calibration(&self, percentile: f64) -> Result<Option<Calibration>> {
        if let Some(c) = self
            .record
            .calibration
            .filter(|c| c.percentile == percentile)
        {
            return Ok(Some(c));
        }
        let path = self.dir.join(VALIDATION_SCORES_FILE);
        if !path.exists() {
            return Ok(None);
        }
        Calibration::of(&read_scores(&path)?.errors(), percentile).map(Some)
    }

    /// Loads the finished run in `dir`.
    pub fn load(dir: &Path, device: &SelectedDevice) -> Result<Self> {
        let record = read_record(dir)?;
        let (config, model) = load_trained(dir, &device.device)?;
        Ok(Self {
            history: read_history(&dir.join(HISTORY_FILE))?,
            scores: read_scores(&dir.join(SCORES_FILE))?,
            dir: dir.to_path_buf(),
            record,
            config,
            model,
        })
    }
}

impl ImageScorer for Trained {
    fn name(&self) -> String {
        format!("{} error", self.record.architecture)
    }

    fn score_files(&self, paths: &[PathBuf], device: &Device) -> Result<Vec<f64>> {
        let size = self.config.model.image_size;
        Ok(
            score_files(&self.model, size, self.record.resize, paths, device)?
                .into_iter()
                .map(|(_, error)| error)
                .collect(),
        )
    }

    /// [`Trained::recorded_calibration`]; for a run recorded without its
    /// validation scores, at another percentile, recomputed on the run's
    /// split.
    fn calibration(&self, percentile: f64, device: &Device) -> Result<Calibration> {
        match self.recorded_calibration(percentile)? {
            Some(calibration) => Ok(calibration),
            None => Trained::calibration(self, &Prepared::open(&self.dir)?, percentile, device),
        }
    }
}

/// An exclusive lock on a run directory, released on drop: a second process
/// that wants the same run stops with a clear error instead of writing
/// beside the first.
#[derive(Debug)]
pub struct RunLock(#[allow(dead_code)] File);

impl RunLock {
    pub fn acquire(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).at(dir)?;
        let path = dir.join(LOCK_FILE);
        // Opened, never truncated: the lock holds no content to replace.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Self(file)),
            Err(TryLockError::WouldBlock) => Err(Error::RunInUse(dir.to_path_buf())),
            Err(TryLockError::Error(source)) => Err(Error::Io { path, source }),
        }
    }
}

/// The run of `config` on `prepared` under `runs_dir`: loaded when a
/// finished run with the same key exists, else trained (resuming its
/// interrupted checkpoint) and scored on the test split.
pub fn trained(
    runs_dir: &Path,
    prepared: &Prepared,
    config: &TrainingConfig,
    device: &SelectedDevice,
    show_progress: bool,
) -> Result<Trained> {
    let (config, _) = config.resolved_on(&device.device);
    let config = &config;
    config.check()?;
    let key = run_key(prepared, config)?;
    let dir = runs_dir.join(run_name(config, &key));
    let created = !dir.exists();
    let _lock = RunLock::acquire(&dir)?;
    if read_record(&dir).is_ok_and(|r| r.key == key) {
        return Trained::load(&dir, device);
    }
    let options = TrainOptions {
        resume: true,
        show_progress,
    };
    removing_on_failure(&dir, created, || {
        train_and_record(&dir, prepared, config, device, key, options, 0.0)
    })
}

/// Runs `attempt` in `dir`; when this call `created` the directory and the
/// attempt fails before its first checkpoint (bad settings, an empty
/// split), removes it, so that nothing that looks like a run is left.
fn removing_on_failure<T>(
    dir: &Path,
    created: bool,
    attempt: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let result = attempt();
    if result.is_err() && created && !has_checkpoint(dir) {
        // Best effort: the training error is the one to report.
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

/// Trains, scores the test split and writes `run.json` (and the split's
/// `manifest.csv` and `prepare.json`, for `score --unseen`) into `dir`.
fn train_and_record(
    dir: &Path,
    prepared: &Prepared,
    config: &TrainingConfig,
    device: &SelectedDevice,
    key: String,
    options: TrainOptions,
    prepare_s: f64,
) -> Result<Trained> {
    prepared.record_in(dir)?;
    let started = Instant::now();
    let trained = train(dir, prepared, config, &device.device, options)?;
    let train_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let scores = score_split(
        &trained.model,
        prepared,
        Split::Test,
        config.batch_size,
        &device.device,
    );
    write_scores(&dir.join(SCORES_FILE), &scores)?;
    // Kept, so that `score` calibrates at any percentile without the images.
    let validation = score_split(
        &trained.model,
        prepared,
        Split::Validation,
        config.batch_size,
        &device.device,
    );
    write_scores(&dir.join(VALIDATION_SCORES_FILE), &validation)?;
    let calibration = Calibration::of(&validation.errors(), REPORT_PERCENTILE)?;
    let record = RunRecord {
        key,
        architecture: config.model.architecture,
        seed: config.seed,
        split_seed: prepared.config.split.seed,
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
            score_s: started.elapsed().as_secs_f64(),
        },
        test_images: scores.len(),
        mean_test_error: scores.mean_error(),
        test_auroc: auroc(&scores.errors(), &scores.labels()),
        resize: prepared.config.preprocess.resize,
        calibration: Some(calibration),
        precision: config.precision,
    };
    write_bytes_atomic(&dir.join(RUN_FILE), &serde_json::to_vec_pretty(&record)?)?;
    Ok(Trained {
        dir: dir.to_path_buf(),
        record,
        config: trained.config,
        history: trained.history,
        model: trained.model,
        scores,
    })
}

/// What the `train` command runs; `None` fields take the profile's value.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    pub data_dir: PathBuf,
    pub out: PathBuf,
    pub architecture: Architecture,
    pub profile: Profile,
    pub device: DeviceChoice,
    /// The convolutions' arithmetic (`auto`: bf16 where the device has it).
    pub precision: Precision,
    /// Seed of model initialisation and batch order.
    pub seed: u64,
    /// Seed of the pool draw and the split; `None` uses `seed`. Fixing it
    /// while `seed` varies separates training noise from split noise.
    pub split_seed: Option<u64>,
    pub image_size: Option<usize>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub encoding_dim: Option<usize>,
    pub pool: Option<PoolSize>,
    pub early_stopping_patience: Option<usize>,
    pub resize: Resize,
    pub cache_dir: PathBuf,
    pub download: bool,
    /// Leave out undecodable images and empty classes (named on stderr)
    /// instead of failing.
    pub skip_bad: bool,
    pub resume: bool,
    /// Discard an unfinished attempt in `out` (its checkpoint, weights and
    /// an unreadable record) and train from scratch.
    pub restart: bool,
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
            precision: Precision::Auto,
            seed: 42,
            split_seed: None,
            image_size: None,
            epochs: None,
            batch_size: None,
            learning_rate: None,
            encoding_dim: None,
            pool: None,
            early_stopping_patience: None,
            resize: Resize::Bilinear,
            cache_dir: PathBuf::from("data/cache"),
            download: true,
            skip_bad: false,
            resume: false,
            restart: false,
            show_progress: true,
        }
    }

    /// The split and preprocessing, with the profile's defaults filled in.
    pub fn prepare_config(&self, profile: Profile) -> PrepareConfig {
        let settings = profile.settings();
        PrepareConfig {
            data_dir: self.data_dir.clone(),
            run_dir: self.out.clone(),
            split: SplitConfig {
                seed: self.split_seed.unwrap_or(self.seed),
                pool: self.pool.unwrap_or(settings.pool),
                ..SplitConfig::default()
            },
            preprocess: PreprocessConfig {
                size: self.image_size.unwrap_or(settings.image_size),
                cache_dir: self.cache_dir.clone(),
                show_progress: self.show_progress,
                resize: self.resize,
                skip_bad: self.skip_bad,
                ..PreprocessConfig::default()
            },
            download: self.download,
        }
    }

    /// Checks every setting, with `profile`'s defaults for those not given:
    /// what [`run`] does before it writes anything.
    pub fn check(&self, profile: Profile) -> Result<()> {
        let prepare = self.prepare_config(profile);
        prepare.split.check()?;
        prepare.preprocess.check()?;
        self.training_config(profile, prepare.preprocess.size)
            .check()
    }

    /// The training settings, with the profile's defaults filled in.
    pub fn training_config(&self, profile: Profile, image_size: usize) -> TrainingConfig {
        let settings = profile.settings();
        let model =
            ModelConfig::new(self.architecture, image_size).with_encoding_dim(self.encoding_dim);
        TrainingConfig::new(model)
            .with_epochs(self.epochs.unwrap_or(settings.epochs))
            .with_batch_size(self.batch_size.unwrap_or(settings.batch_size))
            .with_learning_rate(self.learning_rate.unwrap_or(1e-3))
            .with_seed(self.seed)
            .with_early_stopping_patience(self.early_stopping_patience)
    }
}

/// Prepares, trains, scores and records one run in `spec.out`. A directory
/// that holds a finished run of other settings is refused: nothing finished
/// is overwritten.
pub fn run(spec: &RunSpec) -> Result<Trained> {
    // The settings given, before the device is measured or a file written.
    spec.check(spec.profile)?;
    let device = select_device(spec.device)?;
    let precision = select_precision(spec.precision, &device.device);
    let (profile, profile_reason) =
        (spec.profile).resolve_projected(&device, precision.precision, &spec.cache_dir);
    if spec.show_progress {
        eprintln!("device: {} ({})", device.choice, device.reason);
        eprintln!("precision: {} ({})", precision.precision, precision.reason);
        eprintln!("profile: {} ({profile_reason})", profile.name());
    }
    spec.check(profile)?;
    let started = Instant::now();
    let prepared = prepare_split(&spec.prepare_config(profile))?;
    let prepare_s = started.elapsed().as_secs_f64();
    if spec.show_progress {
        report_skipped(&prepared);
    }
    let config = spec
        .training_config(profile, prepared.cache.size())
        .resolved()
        .with_precision(precision.precision);
    let key = run_key(&prepared, &config)?;
    let created = !spec.out.exists();
    let _lock = RunLock::acquire(&spec.out)?;
    if let Some(finished) = finished_run(spec, &prepared, &config, &key, &device)? {
        return Ok(finished);
    }
    if spec.restart {
        discard_attempt(&spec.out)?;
    }
    let options = TrainOptions {
        resume: spec.resume && !spec.restart,
        show_progress: spec.show_progress,
    };
    removing_on_failure(&spec.out, created, || {
        train_and_record(
            &spec.out, &prepared, &config, &device, key, options, prepare_s,
        )
    })
}

/// Names on stderr what the dataset scan and `skip_bad` left out.
fn report_skipped(prepared: &Prepared) {
    if !prepared.skipped_files.is_empty() {
        let files = describe_skipped(&prepared.skipped_files);
        eprintln!("note: the dataset scan passed over {files}");
    }
    if !prepared.skipped_images.is_empty() {
        let images = describe_skipped(&prepared.skipped_images);
        eprintln!("warning: skipped bad images, {images}");
    }
    for class in &prepared.skipped_classes {
        eprintln!("warning: skipped empty class folder {}", class.display());
    }
}

/// The finished run in `spec.out` when it is of `key`; `None` when there
/// is none, or an unreadable one that `--restart` is to discard. A run of
/// other settings is refused, naming them.
fn finished_run(
    spec: &RunSpec,
    prepared: &Prepared,
    config: &TrainingConfig,
    key: &str,
    device: &SelectedDevice,
) -> Result<Option<Trained>> {
    let path = spec.out.join(RUN_FILE);
    if !path.exists() {
        return Ok(None);
    }
    match read_record(&spec.out) {
        Ok(record) if record.key == key => Trained::load(&spec.out, device).map(Some),
        Ok(record) => Err(Error::InvalidParameter(format!(
            "{} holds a finished run of other settings (key {}, these are {key}; {}): choose \
             another --out",
            spec.out.display(),
            record.key,
            difference(&spec.out, &record, prepared, config),
        ))),
        Err(_) if spec.restart => Ok(None),
        Err(e) => Err(Error::Corrupt {
            reason: format!(
                "the run's record is unreadable ({}): pass --restart to train the run again \
                 from scratch, or choose another --out",
                match e {
                    Error::Corrupt { reason, .. } => reason,
                    other => other.to_string(),
                }
            ),
            path,
        }),
    }
}

/// What differs between the finished run in `dir` and these settings, in
/// words.
fn difference(
    dir: &Path,
    record: &RunRecord,
    prepared: &Prepared,
    config: &TrainingConfig,
) -> String {
    let settings = config_differences(&dir.join(CONFIG_FILE), config);
    if !settings.is_empty() {
        return format!("differing: {}", settings.join(", "));
    }
    if record.manifest_sha256 != prepared.manifest_sha256 {
        return "the same training settings on another split (its manifest differs: another \
                seed, pool, held-out class or dataset)"
            .into();
    }
    "the same settings, recorded by another version or resize method".into()
}

/// `--restart`: removes what an earlier attempt left in `dir` (checkpoint,
/// settings, weights, history, scores and an unreadable record), so that
/// nothing of it is reused.
fn discard_attempt(dir: &Path) -> Result<()> {
    discard_training(dir)?;
    for name in [
        SCORES_FILE,
        VALIDATION_SCORES_FILE,
        UNSEEN_SCORES_FILE,
        RUN_FILE,
    ] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::remove_file(&path).at(&path)?;
        }
    }
    Ok(())
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

/// What a run directory holds, told by the fields of its `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// An autoencoder ([`Trained`]).
    Autoencoder,
    /// The label-aware classifier ([`crate::classifier::TrainedClassifier`]).
    Classifier,
    /// Detectors on pretrained features ([`crate::detectors::FeatureRun`]).
    Features,
}

impl RunKind {
    pub fn of(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(RUN_FILE);
        let record: serde_json::Value = read_json(&path)?;
        let has = |field: &str| record.get(field).is_some();
        if has("architecture") {
            Ok(Self::Autoencoder)
        } else if has("classes") {
            Ok(Self::Classifier)
        } else if has("bank_key") {
            Ok(Self::Features)
        } else {
            Err(Error::Corrupt {
                path,
                reason: "not the record of an autoencoder, classifier or feature run".into(),
            })
        }
    }
}

/// Reads a run's `run.json`; errors name the file.
pub fn read_record(run_dir: &Path) -> Result<RunRecord> {
    read_json(&run_dir.join(RUN_FILE))
}
