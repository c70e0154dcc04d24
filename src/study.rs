//! A study directory: where the notebooks, `refine` and `reproduce` keep
//! their splits, runs, figures and tables.
//!
//! ```text
//! DIR/splits/<key>/               manifest.csv, prepare.json of one split
//! DIR/runs/<model>-seed<N>-<key>/ one training run each (see crate::run)
//! DIR/figures/*.png|svg           every figure
//! DIR/tables/*.csv                every table
//! DIR/metrics.json, report.md, report.html   (written by reproduce)
//! ```
//!
//! The steps themselves are functions of the section modules over the
//! values the steps before returned; [`Study`] only says where things go
//! and finds the finished runs. A run is found by the key of everything
//! that determines it, so a changed setting trains a new run beside the
//! old one, and setting it back loads the old one.

use std::path::PathBuf;

use burn::tensor::Device;
use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};

use crate::classifier::{ClassifierTrainingConfig, TrainedClassifier, trained_classifier};
use crate::data::{PrepareConfig, Prepared, PreprocessConfig, Resize, SplitConfig, prepare};
use crate::detectors::{FeatureBank, FeatureRun};
use crate::device::{DeviceChoice, SelectedDevice, select_device};
use crate::error::{Error, IoContext, Result};
use crate::profile::Profile;
use crate::run::{Trained, trained};
use crate::table::write_dataframe_csv;
use crate::train::TrainingConfig;

/// Environment variables read by [`StudyConfig::from_env`] (the notebooks).
pub const PROFILE_ENV: &str = "CALTECH_ANOMALY_PROFILE";
pub const OUT_ENV: &str = "CALTECH_ANOMALY_OUT";
pub const DEVICE_ENV: &str = "CALTECH_ANOMALY_DEVICE";
/// The checkout whose `data/` and `runs/` relative defaults refer to.
pub const ROOT_ENV: &str = "CALTECH_ANOMALY_ROOT";

/// Where and how the study runs.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyConfig {
    /// Caltech-101 root (holding `101_ObjectCategories/`).
    pub data_dir: PathBuf,
    /// The study directory.
    pub out: PathBuf,
    /// The source of the default settings (image size, epochs, batch,
    /// pool); every step can override them.
    pub profile: Profile,
    pub device: DeviceChoice,
    pub cache_dir: PathBuf,
    pub download: bool,
    pub show_progress: bool,
}

impl StudyConfig {
    /// The defaults for a dataset and a study directory: profile and device
    /// `auto`.
    pub fn new(data_dir: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            out: out.into(),
            profile: Profile::Auto,
            device: DeviceChoice::Auto,
            cache_dir: PathBuf::from("data/cache"),
            download: true,
            show_progress: true,
        }
    }

    /// The notebooks' configuration: `CALTECH_ANOMALY_PROFILE` (default
    /// `auto`), `CALTECH_ANOMALY_DEVICE` (default `auto`),
    /// `CALTECH_ANOMALY_OUT` (default `runs/study-<profile>`),
    /// `CALTECH101_DIR` (default `data/caltech101`); relative defaults are
    /// taken from `CALTECH_ANOMALY_ROOT`, else from this crate's folder.
    pub fn from_env() -> Result<Self> {
        let root = std::env::var_os(ROOT_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let profile = match var(PROFILE_ENV) {
            Some(name) => <Profile as clap::ValueEnum>::from_str(&name, true).map_err(|_| {
                Error::InvalidParameter(format!(
                    "{PROFILE_ENV}={name}: expected auto, full, quick or smoke"
                ))
            })?,
            None => Profile::Auto,
        };
        let device = match var(DEVICE_ENV) {
            Some(choice) => choice.parse()?,
            None => DeviceChoice::Auto,
        };
        let out = var(OUT_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("runs/study-{}", profile.name())));
        let data_dir = crate::data::resolve_data_dir(None);
        Ok(Self {
            profile,
            device,
            cache_dir: root.join("data/cache"),
            ..Self::new(root.join(data_dir), root.join(out))
        })
    }
}

/// An open study directory, with its device.
pub struct Study {
    pub config: StudyConfig,
    /// The concrete profile (`auto` resolved for the device).
    pub profile: Profile,
    pub profile_reason: String,
    pub device: SelectedDevice,
}

impl std::fmt::Debug for Study {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Study")
            .field("out", &self.config.out)
            .field("profile", &self.profile)
            .field("profile_reason", &self.profile_reason)
            .field("device", &self.device.choice)
            .finish_non_exhaustive()
    }
}

impl Study {
    /// Opens (or starts) the study in `config.out` and picks the device.
    pub fn open(config: StudyConfig) -> Result<Self> {
        let device = select_device(config.device)?;
        let (profile, profile_reason) =
            (config.profile).resolve_projected(&device, &config.cache_dir);
        if config.show_progress {
            eprintln!("device: {} ({})", device.choice, device.reason);
            eprintln!("profile: {} ({profile_reason})", profile.name());
        }
        for dir in ["figures", "tables", "runs", "splits"] {
            let path = config.out.join(dir);
            std::fs::create_dir_all(&path).at(&path)?;
        }
        Ok(Self {
            config,
            profile,
            profile_reason,
            device,
        })
    }

    /// Report section 4 for `split` at `image_size` px: the dataset split
    /// and preprocessed into the image cache (reused when it exists), its
    /// manifest kept in `DIR/splits/<key>/`.
    pub fn prepare(&self, split: SplitConfig, image_size: usize) -> Result<Prepared> {
        self.prepare_resized(split, image_size, Resize::default())
    }

    /// [`Self::prepare`] with another resize method (the resize ablation's
    /// antialiased filter).
    pub fn prepare_resized(
        &self,
        split: SplitConfig,
        image_size: usize,
        resize: Resize,
    ) -> Result<Prepared> {
        let preprocess = PreprocessConfig {
            size: image_size,
            cache_dir: self.config.cache_dir.clone(),
            show_progress: self.config.show_progress,
            resize,
            ..PreprocessConfig::default()
        };
        let identity = serde_json::to_vec(&(&split, image_size, preprocess.skip_bad, resize))?;
        let key: String = Sha256::digest(identity)[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        prepare(&PrepareConfig {
            data_dir: self.config.data_dir.clone(),
            run_dir: self.config.out.join("splits").join(key),
            split,
            preprocess,
            download: self.config.download,
        })
    }

    /// The run of `config` on `prepared`: loaded when this study finished
    /// it before with the same settings, else trained (resuming an
    /// interrupted run) and scored on the test split.
    pub fn train(&self, prepared: &Prepared, config: &TrainingConfig) -> Result<Trained> {
        trained(
            &self.config.out.join("runs"),
            prepared,
            config,
            &self.device,
            self.config.show_progress,
        )
    }

    /// The label-aware classifier of `config` on `prepared`: loaded when
    /// this study finished it before with the same settings, else trained
    /// (resuming an interrupted run).
    pub fn train_classifier(
        &self,
        prepared: &Prepared,
        config: &ClassifierTrainingConfig,
    ) -> Result<TrainedClassifier> {
        trained_classifier(
            &self.config.out.join("runs"),
            prepared,
            config,
            self.device(),
            self.config.show_progress,
        )
    }

    /// The detectors on `bank`'s pretrained features (kNN with `k`
    /// neighbours, a Gaussian with `ridge`) fitted on `prepared`'s split:
    /// loaded when this study fitted them before, else fitted and saved.
    pub fn fit_features(
        &self,
        bank: &FeatureBank,
        prepared: &Prepared,
        k: usize,
        ridge: f64,
    ) -> Result<FeatureRun> {
        FeatureRun::fit(&self.config.out.join("runs"), bank, prepared, k, ridge)
    }

    /// [`Self::train`] for every configuration at every seed:
    /// `runs[s][m]` is `configs[m]` with seed `seeds[s]`.
    pub fn train_seeds(
        &self,
        prepared: &Prepared,
        configs: &[TrainingConfig],
        seeds: &[u64],
    ) -> Result<Vec<Vec<Trained>>> {
        seeds
            .iter()
            .map(|&seed| {
                configs
                    .iter()
                    .map(|c| self.train(prepared, &c.clone().with_seed(seed)))
                    .collect()
            })
            .collect()
    }

    /// The device every step runs on.
    pub fn device(&self) -> &Device {
        &self.device.device
    }

    /// `DIR/figures/<name>`, without extension: where a figure goes.
    pub fn figure(&self, name: &str) -> PathBuf {
        self.config.out.join("figures").join(name)
    }

    /// `DIR/tables/<name>.csv`.
    pub fn table_path(&self, name: &str) -> PathBuf {
        self.config.out.join("tables").join(format!("{name}.csv"))
    }

    /// Saves `df` as `DIR/tables/<name>.csv` and hands it back, for display.
    pub fn table(&self, name: &str, df: DataFrame) -> Result<DataFrame> {
        write_dataframe_csv(&self.table_path(name), &df)?;
        Ok(df)
    }
}
