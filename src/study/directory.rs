//! A study directory: where the notebooks, `refine` and `reproduce` keep
//! their splits, runs, figures and tables.
//!
//! ```text
//! DIR/splits/<key>/               manifest.csv, prepare.json of one split
//! DIR/runs/<model>-seed<N>-<key>/ one training run each (see crate::autoencoder)
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

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use polars::prelude::DataFrame;
use sha2::{Digest, Sha256};

use crate::autoencoder::{Trained, TrainingConfig, read_record, run_key, run_name, trained};
use crate::backend::{
    DeviceChoice, Precision, SelectedDevice, SelectedPrecision, select_device, select_precision,
};
use crate::classifier::{ClassifierTrainingConfig, TrainedClassifier, trained_classifier};
use crate::data::{PrepareConfig, Prepared, PreprocessConfig, Resize, SplitConfig, prepare};
use crate::error::{Error, IoContext, Result};
use crate::features::{EfficientNetLite, FeatureBank, FeatureRun, PatchCoreRun};
use crate::geometric::{GeometricTrainingConfig, TrainedGeometric, trained_geometric};
use crate::io::{Table, in_notebook, status, write_dataframe_csv};
use crate::scoring::{LadderBudget, LadderFitting};
use crate::study::{Profile, ProfileSettings, StudySettings};
use crate::training::train_status;

/// Environment variables read by [`StudyConfig::from_env`] (the notebooks).
pub const PROFILE_ENV: &str = "CALTECH_ANOMALY_PROFILE";
pub const OUT_ENV: &str = "CALTECH_ANOMALY_OUT";
pub const DEVICE_ENV: &str = "CALTECH_ANOMALY_DEVICE";
pub const PRECISION_ENV: &str = "CALTECH_ANOMALY_PRECISION";
use crate::io::ROOT_ENV;

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
    /// The autoencoders' arithmetic where a training configuration leaves it
    /// `auto`.
    pub precision: Precision,
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
            precision: Precision::Auto,
            cache_dir: PathBuf::from("data/cache"),
            download: true,
            show_progress: true,
        }
    }

    /// This configuration at `profile`, and its study folder the profile's
    /// default (`runs/study-<profile>` beside the old one) when it was the
    /// old profile's default: what a notebook's first cell changes to pick
    /// another profile than `CALTECH_ANOMALY_PROFILE`'s.
    pub fn with_profile(self, profile: Profile) -> Self {
        let default_out = |p: Profile| format!("study-{}", p.name());
        let out = if self.out.file_name() == Some(default_out(self.profile).as_ref()) {
            self.out.with_file_name(default_out(profile))
        } else {
            self.out.clone()
        };
        Self {
            profile,
            out,
            ..self
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
            Some(name) => name
                .parse::<Profile>()
                .map_err(|e| Error::InvalidParameter(format!("{PROFILE_ENV}: {e}")))?,
            None => Profile::Auto,
        };
        let device = match var(DEVICE_ENV) {
            Some(choice) => choice.parse()?,
            None => DeviceChoice::Auto,
        };
        let precision = match var(PRECISION_ENV) {
            Some(choice) => choice.parse()?,
            None => Precision::Auto,
        };
        let out = var(OUT_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("runs/study-{}", profile.name())));
        let data_dir = crate::data::resolve_data_dir(None);
        Ok(Self {
            profile,
            device,
            precision,
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
    /// The precision `auto` resolves to on the device.
    pub precision: SelectedPrecision,
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
        let precision = select_precision(config.precision, &device.device);
        let (profile, profile_reason) =
            (config.profile).resolve_projected(&device, precision.precision, &config.cache_dir);
        // A notebook shows the study's own line instead (its display).
        if config.show_progress && !in_notebook() {
            eprintln!("device: {} ({})", device.choice, device.reason);
            eprintln!("precision: {} ({})", precision.precision, precision.reason);
            eprintln!("profile: {} ({profile_reason})", profile.name());
        }
        for dir in ["figures", "tables", "runs", "splits"] {
            let path = config.out.join(dir);
            std::fs::create_dir_all(&path).at(&path)?;
        }
        // What a notebook shows names its runs, figures and tables
        // relative to this folder, and images relative to the dataset's.
        crate::io::show_paths_under(&[&config.out, &config.data_dir]);
        Ok(Self {
            config,
            profile,
            profile_reason,
            device,
            precision,
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
        let config = match config.precision {
            Precision::Auto => config.clone().with_precision(self.precision.precision),
            _ => config.clone(),
        };
        let loaded = self.finished_before(prepared, &config);
        let started = Instant::now();
        let run = trained(
            &self.runs_dir(),
            prepared,
            &config,
            &self.device,
            self.config.show_progress,
        )?;
        status(
            self.config.show_progress,
            &train_status(&run.dir, loaded, started.elapsed()),
        );
        Ok(run)
    }

    /// Whether this study holds the finished run of `config` on
    /// `prepared`, which [`Self::train`] then loads.
    fn finished_before(&self, prepared: &Prepared, config: &TrainingConfig) -> bool {
        let (config, _) = config.resolved_on(self.device());
        run_key(prepared, &config).is_ok_and(|key| {
            let dir = self.runs_dir().join(run_name(&config, &key));
            read_record(&dir).is_ok_and(|record| record.header.key == key)
        })
    }

    /// The label-aware classifier of `config` on `prepared`: loaded when
    /// this study finished it before with the same settings, else trained
    /// (resuming an interrupted run); a status line says which.
    pub fn train_classifier(
        &self,
        prepared: &Prepared,
        config: &ClassifierTrainingConfig,
    ) -> Result<TrainedClassifier> {
        let (device, show) = (self.device(), self.config.show_progress);
        trained_classifier(&self.runs_dir(), prepared, config, device, show)
    }

    /// The self-supervised geometric detector of `config` on `prepared`:
    /// loaded when this study finished it before with the same settings,
    /// else trained (resuming an interrupted run); a status line says
    /// which.
    pub fn train_geometric(
        &self,
        prepared: &Prepared,
        config: &GeometricTrainingConfig,
    ) -> Result<TrainedGeometric> {
        let (device, show) = (self.device(), self.config.show_progress);
        trained_geometric(&self.runs_dir(), prepared, config, device, show)
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
        FeatureRun::fit(&self.runs_dir(), bank, prepared, k, ridge)
    }

    /// PatchCore on `extractor`'s patches at `input_size` px, its memory
    /// bank the `coreset_fraction` of `prepared`'s train patches: loaded
    /// when this study fitted it before, else fitted and saved.
    pub fn fit_patchcore(
        &self,
        extractor: &EfficientNetLite,
        prepared: &Prepared,
        input_size: usize,
        coreset_fraction: f64,
    ) -> Result<PatchCoreRun> {
        PatchCoreRun::fit(
            &self.runs_dir(),
            extractor,
            prepared,
            input_size,
            coreset_fraction,
            &self.device.device,
            self.config.show_progress,
        )
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

    /// `DIR/runs`: where every run goes.
    pub fn runs_dir(&self) -> PathBuf {
        self.config.out.join("runs")
    }

    /// What this study lends the ladder's families to fit their detectors
    /// on `prepared` (its split at another side prepared here too), at the
    /// profile's sizes, the networks trained from scratch seeded `seed`.
    pub fn ladder_fitting<'a>(&'a self, prepared: &'a Prepared, seed: u64) -> LadderFitting<'a> {
        let s = self.profile.settings();
        // The study's own side is read back, not prepared (scanned) again.
        let split_at = move |side: usize| {
            if side == prepared.cache.size() {
                Prepared::open(&prepared.config.run_dir)
            } else {
                self.prepare(prepared.config.split.clone(), side)
            }
        };
        LadderFitting {
            runs_dir: self.runs_dir(),
            data_dir: self.config.data_dir.clone(),
            cache_dir: self.config.cache_dir.clone(),
            device: self.device().clone(),
            show_progress: self.config.show_progress,
            prepared,
            split_at: Box::new(split_at),
            budget: LadderBudget {
                scratch_size: s.classifier_size,
                scratch_epochs: s.classifier_epochs,
                batch_size: s.batch_size,
                feature_size: s.feature_size,
                seed,
                smoke: self.profile == Profile::Smoke,
            },
        }
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

    /// The settings the study's notebooks share: those saved in its folder
    /// (`settings.json`, by [`Self::save_settings`]), else the profile's
    /// ([`StudySettings::of_profile`]).
    pub fn settings(&self) -> Result<StudySettings> {
        Ok(StudySettings::load(&self.config.out)?
            .unwrap_or_else(|| StudySettings::of_profile(&self.profile.settings())))
    }

    /// Saves `settings` as the study's (`settings.json`), for the notebooks
    /// after this one, and hands them back to show.
    pub fn save_settings(&self, settings: StudySettings) -> Result<StudySettings> {
        settings.save(&self.config.out)?;
        Ok(settings)
    }

    /// Saves `df` as `DIR/tables/<name>.csv` and hands it back as a
    /// [`Table`], which a notebook shows as HTML.
    pub fn table(&self, name: &str, df: DataFrame) -> Result<Table> {
        write_dataframe_csv(&self.table_path(name), &df)?;
        Ok(Table::new(df).saved_as(format!("tables/{name}.csv")))
    }

    /// Shows what was chosen, and why, as a line of Markdown in an evcxr
    /// notebook.
    pub fn evcxr_display(&self) {
        crate::io::Markdown(self.to_string()).evcxr_display();
    }
}

/// One line of Markdown: the device, the profile and the study folder,
/// each with why.
impl fmt::Display for Study {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let device_why = match self.config.device {
            DeviceChoice::Auto if self.device.is_cuda() => "a GPU was found",
            DeviceChoice::Auto => "no GPU found",
            _ => "as requested",
        };
        let profile_why = match (self.config.profile, self.profile) {
            (Profile::Auto, Profile::Full) => "the report's settings, picked for the GPU",
            (Profile::Auto, _) => {
                "picked without a GPU; `CALTECH_ANOMALY_PROFILE=full` runs the report's 256 px"
            }
            _ => "as requested",
        };
        write!(
            f,
            "Device **{}** ({device_why}) · profile **{}**: {} ({profile_why}) · precision {} · \
             study folder `{}`",
            self.device.choice,
            self.profile.name(),
            settings_text(self.profile.settings()),
            self.precision.precision,
            shown(&self.config.out).display(),
        )
    }
}

/// `64 px, 10 epochs, batch 64`.
fn settings_text(s: ProfileSettings) -> String {
    let plural = if s.epochs == 1 { "" } else { "s" };
    format!(
        "{0} px, {1} epoch{plural}, batch {2}",
        s.image_size, s.epochs, s.batch_size
    )
}

/// `path` relative to the checkout when inside it: a rendered notebook
/// names no folder of the machine it ran on.
fn shown(path: &Path) -> &Path {
    let root = std::env::var_os(ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    path.strip_prefix(root).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_profile_moves_the_default_study_folder_only() {
        let config = StudyConfig {
            profile: Profile::Quick,
            ..StudyConfig::new("/data", "/c/runs/study-quick")
        };
        let full = config.clone().with_profile(Profile::Full);
        assert_eq!(full.profile, Profile::Full);
        assert_eq!(full.out, Path::new("/c/runs/study-full"));
        let chosen = StudyConfig {
            out: PathBuf::from("/c/runs/mine"),
            ..config
        };
        assert_eq!(
            chosen.with_profile(Profile::Smoke).out,
            Path::new("/c/runs/mine")
        );
    }

    #[test]
    fn the_study_says_in_one_line_what_it_chose_and_why() {
        let out = std::env::temp_dir().join(format!("study-line-{}", std::process::id()));
        let config = StudyConfig {
            profile: Profile::Smoke,
            device: DeviceChoice::Cpu,
            show_progress: false,
            ..StudyConfig::new("/nonexistent", &out)
        };
        let study = Study::open(config).unwrap();
        let line = study.to_string();
        std::fs::remove_dir_all(&out).unwrap();
        assert!(
            line.starts_with(
                "Device **cpu** (as requested) · profile **smoke**: 32 px, 1 epoch, batch 32 \
                 (as requested) · precision "
            ),
            "{line}"
        );
        assert!(
            line.ends_with(&format!("study folder `{}`", out.display())),
            "{line}"
        );
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(!line.contains("heap"), "no allocator jargon: {line}");
    }
}
