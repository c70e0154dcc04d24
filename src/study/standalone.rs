//! One run in a directory the user names (the `train` command): prepare,
//! train, score and record, with every setting checked before a file is
//! written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::autoencoder::{
    Architecture, ModelConfig, RunRecord, Trained, TrainingConfig, read_record,
    removing_on_failure, run_key, train_and_record,
};
use crate::backend::{DeviceChoice, Precision, SelectedDevice, select_device, select_precision};
use crate::data::{
    PoolSize, PrepareConfig, Prepared, PreprocessConfig, Resize, SplitConfig, describe_skipped,
    prepare_split,
};
use crate::error::{Error, IoContext, Result};
use crate::scoring::{SCORES_FILE, UNSEEN_SCORES_FILE, VALIDATION_SCORES_FILE};
use crate::study::Profile;
use crate::training::{
    CONFIG_FILE, RUN_FILE, RunLock, TrainOptions, config_differences, discard_training,
};

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
/// is none, or an unreadable one that `restart` is to discard. A run of
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
        Ok(record) if record.header.key == key => Trained::load(&spec.out, device).map(Some),
        Ok(record) => Err(Error::OtherFinishedRun {
            dir: spec.out.clone(),
            difference: difference(&spec.out, &record, prepared, config),
            key: record.header.key,
            wanted: key.to_string(),
        }),
        Err(_) if spec.restart => Ok(None),
        Err(e) => Err(Error::RecordUnreadable {
            reason: match e {
                Error::Corrupt { reason, .. } => reason,
                other => other.to_string(),
            },
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
    if record.header.manifest_sha256 != prepared.manifest_sha256 {
        return "the same training settings on another split (its manifest differs: another \
                seed, pool, held-out class or dataset)"
            .into();
    }
    "the same settings, recorded by another version or resize method".into()
}

/// `restart`: removes what an earlier attempt left in `dir` (checkpoint,
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
