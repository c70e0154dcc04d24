//! Training runs and their identity. A run directory holds one trained
//! model, its test scores and `run.json`; its name carries a key over
//! everything that determines the result (the full [`TrainingConfig`], the
//! split's manifest hash, the preprocessing and the crate version), so a
//! finished run is reused only for the same settings, and other settings
//! get a new directory beside it instead of overwriting it.
//!
//! [`trained`] is the step the notebooks, `refine` and `reproduce` call;
//! [`crate::study::run`] is the `train` command's (prepare, train and score
//! into one directory the user names).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::autoencoder::{
    Architecture, Autoencoder, TrainingConfig, calibrate, load_trained, score_files, score_split,
    score_unseen, train,
};
use crate::backend::{Precision, SelectedDevice};
use crate::data::{Prepared, Resize, Split};
use crate::error::{Error, Result};
use crate::io::{Markdown, shown_path};
use crate::scoring::{
    Calibration, DetectorId, DetectorScores, ImageScorer, LadderImages, REPORT_PERCENTILE,
    SCORES_FILE, SavedFamily, SavedScorer, Scores, UNSEEN_SCORES_FILE, UnseenRow,
    VALIDATION_SCORES_FILE, has_current_unseen_scores, read_scores, read_unseen_scores, timed,
    unseen_scores_seconds, write_scores, write_unseen_scores,
};
use crate::stats::auroc;
use crate::training::{
    CRATE_VERSION, EpochRecord, HISTORY_FILE, Record, RunHeader, RunLock, Timings, TrainOptions,
    has_checkpoint, read_history, read_run_record, run_key_of, write_run_record,
};

/// What determines a run's result: the run key is its hash.
#[derive(Serialize)]
struct RunIdentity<'a> {
    training: &'a TrainingConfig,
    manifest_sha256: &'a str,
    resize: &'a str,
    crate_version: &'a str,
}

/// The key of training `config` on `prepared`: 16 hex digits of the
/// SHA-256 of one JSON of the [`TrainingConfig::resolved`] settings, the
/// manifest's SHA-256, the resize method and the crate's version.
pub fn run_key(prepared: &Prepared, config: &TrainingConfig) -> Result<String> {
    if config.precision == Precision::Auto {
        return Err(Error::InvalidParameter(
            "a run is keyed by its resolved precision: resolve `auto` on the device first \
             (TrainingConfig::resolved_on)"
                .into(),
        ));
    }
    let resize = prepared.config.preprocess.resize;
    settings_key(config, &prepared.manifest_sha256, resize, CRATE_VERSION)
}

/// [`run_key`] of `config` on the split of `manifest_sha256`.
fn settings_key(
    config: &TrainingConfig,
    manifest_sha256: &str,
    resize: Resize,
    crate_version: &str,
) -> Result<String> {
    run_key_of(&RunIdentity {
        training: &config.resolved(),
        manifest_sha256,
        resize: resize.description(),
        crate_version,
    })
}

/// `<model>-seed<N>-<key>`: readable, and unique per key.
pub fn run_name(config: &TrainingConfig, key: &str) -> String {
    format!("{}-seed{}-{key}", config.model.architecture, config.seed)
}

/// `run.json`: what ran, where, and the headline numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The kind, [`run_key`] of the run's settings, the split, the build
    /// and the device.
    #[serde(flatten)]
    pub header: RunHeader,
    pub architecture: Architecture,
    pub seed: u64,
    pub split_seed: u64,
    pub device_reason: String,
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

impl Record for RunRecord {
    const KIND: &'static str = "autoencoder";

    fn header(&self) -> &RunHeader {
        &self.header
    }
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
    /// The model's layers, size and training settings: its summary as
    /// Keras prints it ([`crate::autoencoder::ModelConfig::summary`]), then
    /// how it was trained and its run folder, relative to the study folder.
    pub fn describe(&self) -> Markdown {
        let (r, c) = (&self.record, &self.config);
        let layers = c.model.summary().map_or_else(
            |_| format!("**{}**, {} parameters", r.architecture, r.parameters),
            |summary| summary.to_string(),
        );
        Markdown(format!(
            "{layers}\n\nTrained {} epochs (best on validation: epoch {}), batch {}, Adam lr {}, \
             SSIM weight {}. Run `{}`.",
            r.epochs_run,
            r.best_epoch,
            c.batch_size,
            c.learning_rate,
            c.ssim_weight(),
            shown_path(&self.dir).display(),
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
        Calibration::of(&read_scores(&path)?.scores(), percentile).map(Some)
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

impl Trained {
    /// The kind enum's entry (`crate::analysis::RunKind`): an autoencoder
    /// run, scoring by its reconstruction error.
    pub const SAVED: SavedFamily = SavedFamily {
        tag: RunRecord::KIND,
        described: "an autoencoder",
        scores: &["error"],
        loader: load_saved,
    };
}

/// The autoencoder run in `dir` as a saved detector (by its one score).
fn load_saved(dir: &Path, _error: &str, on: &SelectedDevice) -> Result<SavedScorer> {
    Ok(Box::new(Trained::load(dir, on)?))
}

impl ImageScorer for Trained {
    fn id(&self) -> DetectorId {
        DetectorId::Autoencoder(self.record.architecture)
    }

    fn pretrained(&self) -> bool {
        false
    }

    /// The test scores of its training run and its cached unseen scores
    /// ([`timed_unseen_scores`]); its seconds are training and the scoring
    /// of both, as recorded when each was computed.
    fn ladder_scores(&self, images: &LadderImages, device: &Device) -> Result<DetectorScores> {
        let same = |a: &[&str], b: &[&str]| a == b;
        let test_paths: Vec<&str> = self.scores.iter().map(|r| r.path.as_str()).collect();
        let wanted: Vec<&str> = images.test.iter().map(|r| r.path.as_str()).collect();
        let prepared = Prepared::open(&self.dir)?;
        let (unseen, unseen_s) =
            timed_unseen_scores(self, &prepared, device, images.show_progress)?;
        let unseen_paths: Vec<&str> = unseen.iter().map(|r| r.path.as_str()).collect();
        let wanted_unseen: Vec<&str> = images.unseen.iter().map(|r| r.path.as_str()).collect();
        if !same(&test_paths, &wanted) || !same(&unseen_paths, &wanted_unseen) {
            return Err(Error::InvalidParameter(format!(
                "{} scored another split than the ladder's: use runs of one split",
                self.dir.display()
            )));
        }
        let timings = &self.record.timings;
        Ok(DetectorScores {
            id: self.id(),
            pretrained: false,
            test: self.scores.clone(),
            unseen: Some(unseen),
            seconds: timings.train_s + timings.score_s + unseen_s,
            bank_bytes: None,
        })
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
    if read_record(&dir).is_ok_and(|r| r.header.key == key) {
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
pub(crate) fn removing_on_failure<T>(
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
pub(crate) fn train_and_record(
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
    let calibration = Calibration::of(&validation.scores(), REPORT_PERCENTILE)?;
    let device_name = device.choice.to_string();
    let record = RunRecord {
        header: RunHeader::now(RunRecord::KIND, key, &prepared.manifest_sha256, device_name),
        architecture: config.model.architecture,
        seed: config.seed,
        split_seed: prepared.config.split.seed,
        device_reason: device.reason.clone(),
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
        test_auroc: auroc(&scores.scores(), &scores.held_out_flags()),
        resize: prepared.config.preprocess.resize,
        calibration: Some(calibration),
        precision: config.precision,
    };
    write_run_record(dir, &record)?;
    Ok(Trained {
        dir: dir.to_path_buf(),
        record,
        config: trained.config,
        history: trained.history,
        model: trained.model,
        scores,
    })
}

/// Reads an autoencoder run's `run.json` (through the legacy path for one
/// written before the header); errors name the file.
pub fn read_record(run_dir: &Path) -> Result<RunRecord> {
    read_run_record(run_dir)
}

/// A run's scores of every Caltech-101 image outside its pool: its
/// `unseen_scores.csv`, computed when missing or older than the model.
pub fn unseen_scores(
    run: &Trained,
    prepared: &Prepared,
    device: &Device,
    show_progress: bool,
) -> Result<Vec<UnseenRow>> {
    Ok(timed_unseen_scores(run, prepared, device, show_progress)?.0)
}

/// [`unseen_scores`] with the seconds scoring them took: read back with
/// the file, which is scored again when they were not recorded beside it.
pub fn timed_unseen_scores(
    run: &Trained,
    prepared: &Prepared,
    device: &Device,
    show_progress: bool,
) -> Result<(Vec<UnseenRow>, f64)> {
    let path = run.dir.join(UNSEEN_SCORES_FILE);
    if has_current_unseen_scores(&run.dir)
        && let Ok(rows) = read_unseen_scores(&path)
        && let Some(seconds) = unseen_scores_seconds(&run.dir, rows.len())
    {
        return Ok((rows, seconds));
    }
    let data_dir = &prepared.config.data_dir;
    let (rows, seconds) =
        timed(|| score_unseen(&run.model, prepared, data_dir, device, show_progress))?;
    write_unseen_scores(&path, &rows, seconds)?;
    Ok((rows, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoencoder::ModelConfig;

    /// Finished runs are found by their key: a fixed config keys as it did
    /// before the run header (which never enters the key).
    #[test]
    fn the_run_key_is_pinned() {
        let config = TrainingConfig::new(ModelConfig::new(Architecture::Improved2, 64))
            .with_precision(Precision::Fp32);
        let manifest = "0123456789abcdef".repeat(4);
        let key = settings_key(&config, &manifest, Resize::Bilinear, "0.2.0").unwrap();
        assert_eq!(key, "4916e5acb14ea16c");
    }
}
