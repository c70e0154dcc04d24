//! The whole study, section by section: what the notebooks call cell by
//! cell, and what [`crate::reproduce`] runs in one go.
//!
//! A [`Study`] lives in one output directory:
//!
//! ```text
//! DIR/runs/<model>[-seed<N>]/   one training run each (see crate::run)
//! DIR/figures/*.png|svg        every figure
//! DIR/tables/*.csv             every table
//! DIR/metrics.json, report.md, report.html   (written by reproduce)
//! ```
//!
//! Every step loads what an earlier step left in DIR and computes it when
//! missing; a training run interrupted half-way resumes from its last
//! checkpoint. So each notebook runs on its own, in any order.

use std::cell::OnceCell;
use std::path::PathBuf;

use plotters::style::RGBColor;
use plotters::style::colors::{BLUE, RED};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::aggregate::{
    Aggregation, ScoreQuality, compare_aggregations, compression_scores, pca_reconstruction_scores,
};
use crate::claims::{ClaimTable, DatasetCounts, Evidence, MeasuredAt, ModelScores, check_section};
use crate::data::{
    BACKGROUND_CLASS, Caltech101, PrepareConfig, Prepared, PreprocessConfig, Split, SplitConfig,
    prepare,
};
use crate::detect::{
    DEFAULT_PERCENTILES, DetectionRow, class_counts, class_counts_dataframe, detection_dataframe,
    detection_table, outliers, percentile,
};
use crate::device::{DeviceChoice, SelectedDevice, select_device};
use crate::error::{Error, Result};
use crate::evaluate::{
    ConfidenceInterval, ConfusionMatrix, GaussianKde, PerClassRow, auprc, auroc, bootstrap_ci,
    pca_2d, per_class, per_class_dataframe, pr_curve, roc_curve,
};
use crate::figures::{self, Bar, Figure, Series, Tile};
use crate::model::{Architecture, Autoencoder};
use crate::profile::Profile;
use crate::refine::{
    BOOTSTRAP_RESAMPLES, ComparisonRow, UnseenComparisonRow, compare_runs, compare_unseen,
};
use crate::report::Markdown;
use crate::run::{RunRecord, RunSpec, read_record, run};
use crate::score::{
    ErrorMap, SCORES_FILE, ScoreRow, UNSEEN_SCORES_FILE, error_maps, has_current_unseen_scores,
    latent_codes, read_scores, reconstruction_errors, score_unseen, write_unseen_scores,
};
use crate::table::{column, write_dataframe_csv};
use crate::train::{EpochRecord, HISTORY_FILE, TrainingConfig, load_trained, read_history};

/// Environment variables read by [`StudyConfig::from_env`] (the notebooks).
pub const PROFILE_ENV: &str = "CALTECH_ANOMALY_PROFILE";
pub const OUT_ENV: &str = "CALTECH_ANOMALY_OUT";
pub const DEVICE_ENV: &str = "CALTECH_ANOMALY_DEVICE";
/// The checkout whose `data/` and `runs/` relative defaults refer to.
pub const ROOT_ENV: &str = "CALTECH_ANOMALY_ROOT";

/// The report's p80, used by the confusion matrix, PCA marks, the sorted
/// errors and the refinement rates.
pub const REPORT_PERCENTILE: f64 = 80.0;
/// The report's outlier gallery percentile.
pub const GALLERY_PERCENTILE: f64 = 90.0;

/// Where and how the study runs.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyConfig {
    /// Caltech-101 root (holding `101_ObjectCategories/`).
    pub data_dir: PathBuf,
    /// The study directory.
    pub out: PathBuf,
    pub profile: Profile,
    pub device: DeviceChoice,
    /// Seed of the split and of the first training seed.
    pub seed: u64,
    /// Training seeds of the refinement (`seed`, `seed + 1`, …).
    pub seeds: usize,
    /// Models of the refinement, the baseline first.
    pub models: Vec<Architecture>,
    pub cache_dir: PathBuf,
    pub download: bool,
    pub show_progress: bool,
    /// The detection sweep.
    pub percentiles: Vec<f64>,
    /// Bootstrap resamples behind each confidence interval.
    pub resamples: usize,
}

impl StudyConfig {
    /// The defaults for a dataset and a study directory: profile `auto`,
    /// seed 42, one seed, the four models.
    pub fn new(data_dir: impl Into<PathBuf>, out: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            out: out.into(),
            profile: Profile::Auto,
            device: DeviceChoice::Auto,
            seed: 42,
            seeds: 1,
            models: Architecture::ALL.to_vec(),
            cache_dir: PathBuf::from("data/cache"),
            download: true,
            show_progress: true,
            percentiles: DEFAULT_PERCENTILES.to_vec(),
            resamples: BOOTSTRAP_RESAMPLES,
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

    /// Errors on an empty model list or percentile sweep, zero seeds or
    /// resamples, or percentiles outside `0..=100`.
    pub fn check(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::InvalidParameter("no model to train".into()));
        }
        if self.seeds == 0 || self.resamples == 0 {
            return Err(Error::InvalidParameter(
                "seeds and bootstrap resamples must be at least 1".into(),
            ));
        }
        if self.percentiles.is_empty()
            || self.percentiles.iter().any(|p| !(0.0..=100.0).contains(p))
        {
            return Err(Error::InvalidParameter(format!(
                "percentiles {:?} must be non-empty and within 0..=100",
                self.percentiles
            )));
        }
        Ok(())
    }
}

/// A finished training run, loaded.
#[derive(Debug)]
pub struct TrainedRun {
    pub dir: PathBuf,
    pub record: RunRecord,
    pub config: TrainingConfig,
    pub history: Vec<EpochRecord>,
    pub model: Autoencoder,
    /// One row per test image, in test order.
    pub scores: Vec<ScoreRow>,
}

impl TrainedRun {
    pub fn errors(&self) -> Vec<f64> {
        self.scores.iter().map(|r| r.error).collect()
    }

    pub fn labels(&self) -> Vec<bool> {
        self.scores.iter().map(|r| r.held_out).collect()
    }

    /// The `p`-th percentile of the test errors: the report's threshold.
    pub fn threshold(&self, p: f64) -> Result<f64> {
        percentile(&self.errors(), p)
    }
}

/// What the analysis of the baseline needs beyond its scores.
#[derive(Debug)]
struct Analysis {
    /// Test images in test order.
    maps: Vec<ErrorMap>,
    validation_errors: Vec<f64>,
    latent: Vec<Vec<f32>>,
}

/// Section 8: the models on the same split, for each seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refinement {
    /// One row per model at the study's seed.
    pub rows: Vec<ComparisonRow>,
    /// Mean ± standard deviation over seeds, one row per model.
    pub over_seeds: Vec<SeedSummary>,
}

/// A metric over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanStd {
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    pub std: f64,
}

impl MeanStd {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Self { mean, std }
    }
}

/// One model over all seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedSummary {
    pub model: String,
    pub seeds: usize,
    pub mean_test_error: MeanStd,
    pub auroc: MeanStd,
    pub auprc: MeanStd,
    pub tpr_p80: MeanStd,
    pub fpr_p80: MeanStd,
}

/// A study directory: its prepared split, and lazily its runs and analysis.
pub struct Study {
    pub config: StudyConfig,
    /// The concrete profile (`auto` resolved).
    pub profile: Profile,
    pub profile_reason: String,
    pub device: SelectedDevice,
    /// The split and the image cache (section 4).
    pub prepared: Prepared,
    baseline: OnceCell<TrainedRun>,
    analysis: OnceCell<Analysis>,
    refinement: OnceCell<Vec<Vec<TrainedRun>>>,
    comparison: OnceCell<Refinement>,
    auroc_ci: OnceCell<ConfidenceInterval>,
    auprc_ci: OnceCell<ConfidenceInterval>,
}

impl std::fmt::Debug for Study {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Study")
            .field("out", &self.config.out)
            .field("profile", &self.profile)
            .field("device", &self.device.choice)
            .finish_non_exhaustive()
    }
}

impl Study {
    /// Opens (or starts) the study in `config.out`: picks the device,
    /// resolves the profile, and prepares the split (section 4), reusing
    /// the image cache when it exists.
    pub fn open(config: StudyConfig) -> Result<Self> {
        config.check()?;
        let device = select_device(config.device)?;
        let (profile, profile_reason) = config.profile.resolve(&device);
        if config.show_progress {
            eprintln!("device: {} ({})", device.choice, device.reason);
            eprintln!("profile: {} ({profile_reason})", profile.name());
        }
        let settings = profile.settings();
        let prepared = prepare(&PrepareConfig {
            data_dir: config.data_dir.clone(),
            run_dir: run_dir(&config, config.models[0], config.seed),
            split: SplitConfig {
                seed: config.seed,
                pool: settings.pool,
                ..SplitConfig::default()
            },
            preprocess: PreprocessConfig {
                size: settings.image_size,
                cache_dir: config.cache_dir.clone(),
                show_progress: config.show_progress,
                ..PreprocessConfig::default()
            },
            download: config.download,
        })?;
        for dir in ["figures", "tables"] {
            let path = config.out.join(dir);
            std::fs::create_dir_all(&path).map_err(|source| Error::Io { path, source })?;
        }
        Ok(Self {
            config,
            profile,
            profile_reason,
            device,
            prepared,
            baseline: OnceCell::new(),
            analysis: OnceCell::new(),
            refinement: OnceCell::new(),
            comparison: OnceCell::new(),
            auroc_ci: OnceCell::new(),
            auprc_ci: OnceCell::new(),
        })
    }

    /// `DIR/figures/<name>` without extension.
    pub fn figure_stem(&self, name: &str) -> PathBuf {
        self.config.out.join("figures").join(name)
    }

    /// `DIR/tables/<name>.csv`.
    pub fn table_path(&self, name: &str) -> PathBuf {
        self.config.out.join("tables").join(format!("{name}.csv"))
    }

    fn save_table(&self, name: &str, df: DataFrame) -> Result<DataFrame> {
        write_dataframe_csv(&self.table_path(name), &df)?;
        Ok(df)
    }

    /// The held-out classes, for captions.
    pub fn held_out_name(&self) -> String {
        self.prepared.manifest.held_out.join(", ")
    }

    fn test_rows(&self) -> Vec<usize> {
        self.prepared.manifest.indices(Split::Test)
    }

    fn tile(&self, row: usize, caption: String, border: Option<RGBColor>) -> Tile {
        Tile {
            size: self.prepared.cache.size(),
            rgb: self.prepared.cache.image(row).to_vec(),
            caption,
            border,
        }
    }

    // --- Section 4: loading and preprocessing -------------------------

    /// Images per split, and how many of them are held out.
    pub fn split_sizes(&self) -> Result<DataFrame> {
        self.save_table("split_sizes", self.prepared.summary().to_dataframe()?)
    }

    /// Every class: its TFDS label and its images per split.
    pub fn classes(&self) -> Result<DataFrame> {
        let names = &self.prepared.class_names;
        let mut counts = vec![[0u64; 3]; names.len()];
        for entry in &self.prepared.manifest.entries {
            counts[entry.label as usize][entry.split as usize] += 1;
        }
        let labels: Vec<usize> = (0..names.len()).collect();
        let df = DataFrame::new_infer_height(vec![
            column("label", &labels, |&l| l as u64),
            column("class", &labels, |&l| names[l].as_str()),
            column("train", &labels, |&l| counts[l][0]),
            column("validation", &labels, |&l| counts[l][1]),
            column("test", &labels, |&l| counts[l][2]),
        ])?;
        self.save_table("classes", df)
    }

    /// One training image of each of `n` classes spread over the label
    /// order, captioned with label and name.
    pub fn class_overview(&self, n: usize) -> Result<Figure> {
        let manifest = &self.prepared.manifest;
        let labels: Vec<u32> = {
            let mut l: Vec<u32> = manifest.entries.iter().map(|e| e.label).collect();
            l.sort_unstable();
            l.dedup();
            l
        };
        let n = n.clamp(1, labels.len());
        let tiles: Vec<Tile> = (0..n)
            .filter_map(|i| {
                let label = labels[i * labels.len() / n];
                let row = manifest
                    .entries
                    .iter()
                    .position(|e| e.label == label && e.split == Split::Train)
                    .or_else(|| manifest.entries.iter().position(|e| e.label == label))?;
                let name = &manifest.entries[row].class;
                Some(self.tile(row, format!("{label} {name}"), None))
            })
            .collect();
        figures::image_grid(
            &format!("{n} of {} classes (label and name)", labels.len()),
            &tiles,
            8,
            None,
            &self.figure_stem("class_overview"),
        )
    }

    /// Up to `n` test images of the held-out classes.
    pub fn held_out_samples(&self, n: usize) -> Result<Figure> {
        let tiles: Vec<Tile> = self
            .test_rows()
            .into_iter()
            .filter(|&row| self.prepared.manifest.is_held_out(row))
            .take(n)
            .map(|row| self.tile(row, self.prepared.manifest.entries[row].class.clone(), None))
            .collect();
        figures::image_grid(
            &format!("Held-out class samples ({})", self.held_out_name()),
            &tiles,
            8,
            None,
            &self.figure_stem("held_out_samples"),
        )
    }

    // --- Section 5: the autoencoder -----------------------------------

    /// The training run of `architecture` at `seed`: loaded when finished,
    /// else trained (resuming an interrupted run).
    pub fn trained(&self, architecture: Architecture, seed: u64) -> Result<TrainedRun> {
        let dir = run_dir(&self.config, architecture, seed);
        if let Ok(record) = read_record(&dir)
            && record.architecture == architecture
            && record.profile == self.profile
            && record.seed == seed
        {
            let (config, model) = load_trained(&dir, &self.device.device)?;
            return Ok(TrainedRun {
                history: read_history(&dir.join(HISTORY_FILE))?,
                scores: read_scores(&dir.join(SCORES_FILE))?,
                dir,
                record,
                config,
                model,
            });
        }
        let spec = RunSpec {
            architecture,
            profile: self.profile,
            device: self.config.device,
            seed,
            split_seed: Some(self.config.seed),
            cache_dir: self.config.cache_dir.clone(),
            download: self.config.download,
            resume: true,
            show_progress: self.config.show_progress,
            ..RunSpec::new(&self.config.data_dir, &dir)
        };
        let outcome = run(&spec)?;
        Ok(TrainedRun {
            dir,
            record: outcome.record,
            config: outcome.trained.config,
            history: outcome.trained.history,
            model: outcome.trained.model,
            scores: outcome.scores,
        })
    }

    /// The baseline at the study's seed (the report's model).
    pub fn baseline(&self) -> Result<&TrainedRun> {
        get_or_try_init(&self.baseline, || {
            self.trained(self.config.models[0], self.config.seed)
        })
    }

    /// The baseline's layers and size.
    pub fn architecture(&self) -> Result<Markdown> {
        let run = self.baseline()?;
        let m = &run.config.model;
        Ok(Markdown(format!(
            "**{}** for {s}×{s}×3 images: {} parameters, trained {} epochs (best on \
             validation: epoch {}), batch {}, Adam lr {}.\n\n```text\n{}\n```",
            run.record.architecture,
            run.record.parameters,
            run.record.epochs_run,
            run.record.best_epoch,
            run.config.batch_size,
            run.config.learning_rate,
            run.model,
            s = m.image_size,
        )))
    }

    /// Training and validation loss per epoch.
    pub fn loss_curves(&self) -> Result<Figure> {
        let run = self.baseline()?;
        let h = &run.history;
        figures::loss_curves(
            &format!(
                "{}: training and validation loss (MSE)",
                run.record.architecture
            ),
            &h.iter().map(|e| e.epoch).collect::<Vec<_>>(),
            &h.iter().map(|e| e.train_loss).collect::<Vec<_>>(),
            &h.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
            run.record.best_epoch,
            &self.figure_stem("loss_curves"),
        )
    }

    fn analysis(&self) -> Result<&Analysis> {
        get_or_try_init(&self.analysis, || self.compute_analysis())
    }

    fn compute_analysis(&self) -> Result<Analysis> {
        let run = self.baseline()?;
        let cache = &self.prepared.cache;
        let device = &self.device.device;
        let test = self.test_rows();
        if test.len() != run.scores.len() {
            return Err(Error::Corrupt {
                path: run.dir.join(SCORES_FILE),
                reason: format!(
                    "{} rows for a test split of {} images",
                    run.scores.len(),
                    test.len()
                ),
            });
        }
        let validation = self.prepared.manifest.indices(Split::Validation);
        Ok(Analysis {
            maps: error_maps(&run.model, cache, &test, device),
            validation_errors: reconstruction_errors(
                &run.model,
                cache,
                &validation,
                run.config.batch_size,
                device,
            ),
            latent: latent_codes(&run.model, cache, &test, device),
        })
    }

    /// The baseline's `scores.csv`: one row per test image.
    pub fn scores(&self) -> Result<DataFrame> {
        let scores = &self.baseline()?.scores;
        Ok(DataFrame::new_infer_height(vec![
            column("class", scores, |r| r.class.as_str()),
            column("error", scores, |r| r.error),
            column("held_out", scores, |r| r.held_out),
            column("path", scores, |r| r.path.as_str()),
        ])?)
    }

    /// The first `n` test images above their reconstructions.
    pub fn reconstructions(&self, n: usize) -> Result<Figure> {
        let maps = &self.analysis()?.maps;
        let scores = &self.baseline()?.scores;
        let n = n.clamp(1, maps.len());
        let mut tiles: Vec<Tile> = (0..n)
            .map(|i| map_tile(&maps[i], &maps[i].original, scores[i].class.clone()))
            .collect();
        tiles.extend((0..n).map(|i| {
            map_tile(
                &maps[i],
                &maps[i].reconstruction,
                format!("error {:.4}", scores[i].error),
            )
        }));
        figures::image_grid(
            "Test images (top) and their reconstructions (bottom)",
            &tiles,
            n,
            Some(&["original".into(), "reconstruction".into()]),
            &self.figure_stem("reconstructions"),
        )
    }

    /// Original, reconstruction and error map of the `n` test images with
    /// the highest error, highest first.
    pub fn error_maps(&self, n: usize) -> Result<Figure> {
        let maps = &self.analysis()?.maps;
        let scores = &self.baseline()?.scores;
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].error.total_cmp(&scores[a].error));
        order.truncate(n.max(1));
        let max = order
            .iter()
            .flat_map(|&i| maps[i].error.iter().copied())
            .fold(f32::MIN_POSITIVE, f32::max);
        let mut tiles = Vec::new();
        let mut labels = Vec::new();
        for &i in &order {
            let m = &maps[i];
            let mark = if scores[i].held_out { " (anomaly)" } else { "" };
            labels.push(format!("#{i} {}{mark}", scores[i].class));
            tiles.push(map_tile(m, &m.original, "original".into()));
            tiles.push(map_tile(m, &m.reconstruction, "reconstruction".into()));
            tiles.push(map_tile(
                m,
                &figures::heatmap_rgb(&m.error, m.size, max),
                format!("error {:.4}", scores[i].error),
            ));
        }
        figures::image_grid(
            "Highest reconstruction errors: original, reconstruction, squared error",
            &tiles,
            3,
            Some(&labels),
            &self.figure_stem("error_maps"),
        )
    }

    // --- Section 6: anomaly detection ---------------------------------

    /// Test images per class, most frequent first.
    pub fn test_class_counts(&self) -> Result<DataFrame> {
        let counts = class_counts(&self.baseline()?.scores);
        self.save_table("test_class_counts", class_counts_dataframe(&counts)?)
    }

    /// The detection sweep, with the report's test-percentile thresholds
    /// and the leak-free validation-percentile ones (`thresholds.csv`).
    pub fn detection_rows(&self) -> Result<Vec<DetectionRow>> {
        detection_table(
            &self.baseline()?.scores,
            Some(&self.analysis()?.validation_errors),
            &self.config.percentiles,
        )
    }

    /// [`Self::detection_rows`] as a table.
    pub fn detection(&self) -> Result<DataFrame> {
        self.save_table("thresholds", detection_dataframe(&self.detection_rows()?)?)
    }

    /// The images flagged at the `p`-th test percentile, highest error
    /// first; true anomalies framed in red, false alarms in blue.
    pub fn outlier_gallery(&self, p: f64) -> Result<Figure> {
        let run = self.baseline()?;
        let threshold = run.threshold(p)?;
        let flagged = outliers(&run.scores, threshold);
        let df = DataFrame::new_infer_height(vec![
            column("index", &flagged, |o| o.index as u64),
            column("class", &flagged, |o| o.class.as_str()),
            column("error", &flagged, |o| o.error),
            column("anomaly", &flagged, |o| o.is_anomaly),
            column("path", &flagged, |o| o.path.as_str()),
        ])?;
        self.save_table(&format!("outliers_p{p}"), df)?;
        let test = self.test_rows();
        let tiles: Vec<Tile> = flagged
            .iter()
            .map(|o| {
                // The frame says anomaly or false alarm; the caption
                // must fit under a tile.
                let border = if o.is_anomaly { RED } else { BLUE };
                self.tile(
                    test[o.index],
                    format!("#{} {} {:.3}", o.index, o.class, o.error),
                    Some(border),
                )
            })
            .collect();
        figures::image_grid(
            &format!(
                "{} images above the p{p} threshold {threshold:.4} (red: anomaly, blue: false alarm)",
                flagged.len()
            ),
            &tiles,
            6,
            None,
            &self.figure_stem(&format!("outliers_p{p}")),
        )
    }

    /// Mean error and flag rate of each normal class at the `p`-th test
    /// percentile, most often flagged first.
    pub fn per_class(&self, p: f64) -> Result<DataFrame> {
        let (_, classes) = self.per_class_rows(p)?;
        Ok(per_class_dataframe(&classes)?)
    }

    /// The `p`-th percentile threshold and the per-class rows at it; saves
    /// `per_class_p<p>.csv`.
    fn per_class_rows(&self, p: f64) -> Result<(f64, Vec<PerClassRow>)> {
        let run = self.baseline()?;
        let threshold = run.threshold(p)?;
        let classes = per_class(&run.scores, threshold);
        self.save_table(&format!("per_class_p{p}"), per_class_dataframe(&classes)?)?;
        Ok((threshold, classes))
    }

    /// The evidence behind the report's dataset recommendations: the normal
    /// classes most often flagged at the `p`-th test percentile, and the
    /// held-out images it misses.
    pub fn recommendations(&self, p: f64) -> Result<Markdown> {
        let run = self.baseline()?;
        let (threshold, classes) = self.per_class_rows(p)?;
        let missed: Vec<(usize, &ScoreRow)> = run
            .scores
            .iter()
            .enumerate()
            .filter(|(_, r)| r.held_out && r.error <= threshold)
            .collect();
        let df = DataFrame::new_infer_height(vec![
            column("index", &missed, |(i, _)| *i as u64),
            column("error", &missed, |(_, r)| r.error),
            column("path", &missed, |(_, r)| r.path.as_str()),
        ])?;
        self.save_table(&format!("missed_anomalies_p{p}"), df)?;

        let mut text = format!(
            "At the p{p} threshold ({threshold:.4}), these normal classes are flagged most \
             often (false alarms):\n\n"
        );
        for c in classes.iter().filter(|c| c.flagged > 0).take(8) {
            text.push_str(&format!(
                "- `{}`: {} of {} test images flagged, mean error {:.4}\n",
                c.class, c.flagged, c.images, c.mean_error
            ));
        }
        let held_total = run.scores.iter().filter(|r| r.held_out).count();
        text.push_str(&format!(
            "\n{} of {held_total} held-out ({}) images are missed: their error is at or below \
             the threshold, as low as that of the unflagged object images. Which images fall on \
             each side is listed in the CSV files and shown in the outlier gallery; such cases \
             are the evidence behind the report's advice for the dataset: crop objects to cut \
             the error that comes from their backgrounds, keep objects of known classes out of \
             the background class, and cover common background patterns (including plain, \
             monochromatic ones).",
            missed.len(),
            self.held_out_name()
        ));
        Ok(Markdown(text))
    }

    // --- Section 7: evaluation -----------------------------------------

    /// AUROC with its bootstrap interval.
    pub fn auroc(&self) -> Result<ConfidenceInterval> {
        self.interval(&self.auroc_ci, auroc)
    }

    /// AUPRC with its bootstrap interval.
    pub fn auprc(&self) -> Result<ConfidenceInterval> {
        self.interval(&self.auprc_ci, auprc)
    }

    /// The baseline's bootstrap interval of `metric`, computed once: the
    /// summary, the curves and `metrics.json` all show it.
    fn interval(
        &self,
        cell: &OnceCell<ConfidenceInterval>,
        metric: fn(&[f64], &[bool]) -> f64,
    ) -> Result<ConfidenceInterval> {
        get_or_try_init(cell, || {
            let run = self.baseline()?;
            bootstrap_ci(
                &run.errors(),
                &run.labels(),
                metric,
                self.config.resamples,
                self.config.seed,
                0.95,
            )
        })
        .copied()
    }

    /// The headline numbers of section 7, in words.
    pub fn evaluation_summary(&self) -> Result<Markdown> {
        let (auroc, auprc) = (self.auroc()?, self.auprc()?);
        let (threshold, cm) = self.confusion_matrix(REPORT_PERCENTILE)?;
        Ok(Markdown(format!(
            "Positive class: {}; score: the reconstruction error. **AUROC {:.3}** (95% \
             bootstrap CI {:.3}-{:.3}), **AUPRC {:.3}** ({:.3}-{:.3}); {} resamples, seed {}. \
             At p{REPORT_PERCENTILE} (threshold {threshold:.4}): {} of {} anomalies found \
             (recall {:.2}), {} false alarms among {} normal images (FPR {:.2}).",
            self.held_out_name(),
            auroc.estimate,
            auroc.low,
            auroc.high,
            auprc.estimate,
            auprc.low,
            auprc.high,
            self.config.resamples,
            self.config.seed,
            cm.tp,
            cm.tp + cm.fn_,
            cm.recall(),
            cm.fp,
            cm.fp + cm.tn,
            cm.fpr(),
        )))
    }

    /// ROC curve of the error for the held-out class.
    pub fn roc(&self) -> Result<Figure> {
        let run = self.baseline()?;
        let points = roc_curve(&run.errors(), &run.labels())?;
        let ci = self.auroc()?;
        figures::roc_curve(
            &format!("ROC: {} vs the rest of the test set", self.held_out_name()),
            &points.iter().map(|p| p.fpr).collect::<Vec<_>>(),
            &points.iter().map(|p| p.tpr).collect::<Vec<_>>(),
            ci.estimate,
            Some((ci.low, ci.high)),
            &self.figure_stem("roc"),
        )
    }

    /// Precision-recall curve of the error for the held-out class.
    pub fn pr(&self) -> Result<Figure> {
        let run = self.baseline()?;
        let labels = run.labels();
        let points = pr_curve(&run.errors(), &labels)?;
        let ci = self.auprc()?;
        let prevalence = labels.iter().filter(|&&l| l).count() as f64 / labels.len() as f64;
        figures::pr_curve(
            &format!("Precision-recall: {} as positive", self.held_out_name()),
            &points.iter().map(|p| p.recall).collect::<Vec<_>>(),
            &points.iter().map(|p| p.precision).collect::<Vec<_>>(),
            ci.estimate,
            Some((ci.low, ci.high)),
            prevalence,
            &self.figure_stem("pr"),
        )
    }

    /// The confusion matrix at the `p`-th test percentile.
    pub fn confusion_matrix(&self, p: f64) -> Result<(f64, ConfusionMatrix)> {
        let run = self.baseline()?;
        let threshold = run.threshold(p)?;
        Ok((
            threshold,
            ConfusionMatrix::from_scores(&run.errors(), &run.labels(), threshold)?,
        ))
    }

    /// [`Self::confusion_matrix`] as a heat map with its rates.
    pub fn confusion(&self, p: f64) -> Result<Figure> {
        let (threshold, cm) = self.confusion_matrix(p)?;
        figures::confusion_matrix(
            &format!("Confusion matrix at p{p}"),
            cm.tp,
            cm.fn_,
            cm.fp,
            cm.tn,
            &format!(
                "threshold {threshold:.4} · precision {:.2} · recall {:.2} · F1 {:.2} · FPR {:.2}",
                cm.precision(),
                cm.recall(),
                cm.f1(),
                cm.fpr()
            ),
            &self.figure_stem(&format!("confusion_p{p}")),
        )
    }

    /// The two kernel density estimates (all test images, held-out
    /// images), each with its Scott bandwidth.
    pub fn kde_estimates(&self) -> Result<(GaussianKde, GaussianKde)> {
        let run = self.baseline()?;
        let held: Vec<f64> = run
            .scores
            .iter()
            .filter(|r| r.held_out)
            .map(|r| r.error)
            .collect();
        Ok((GaussianKde::new(&run.errors())?, GaussianKde::new(&held)?))
    }

    /// Densities of the error, all test images vs the held-out class, with
    /// the p80, p85 and p90 thresholds.
    pub fn kde(&self) -> Result<Figure> {
        let run = self.baseline()?;
        let errors = run.errors();
        let (all, held) = self.kde_estimates()?;
        let pad = 3.0 * all.bandwidth().max(held.bandwidth());
        let lo = errors.iter().copied().fold(f64::INFINITY, f64::min) - pad;
        let hi = errors.iter().copied().fold(f64::NEG_INFINITY, f64::max) + pad;
        let xs: Vec<f64> = (0..400)
            .map(|i| lo.max(0.0) + (hi - lo.max(0.0)) * i as f64 / 399.0)
            .collect();
        let series = [
            Series {
                label: format!("all test images ({})", errors.len()),
                ys: xs.iter().map(|&x| all.evaluate(x)).collect(),
                xs: xs.clone(),
            },
            Series {
                label: format!("{} only", self.held_out_name()),
                ys: xs.iter().map(|&x| held.evaluate(x)).collect(),
                xs,
            },
        ];
        let markers = [80.0, 85.0, 90.0]
            .iter()
            .map(|&p| Ok((format!("p{p}"), run.threshold(p)?)))
            .collect::<Result<Vec<_>>>()?;
        figures::density_plot(
            "Reconstruction error density (Gaussian KDE)",
            "reconstruction error (MSE)",
            &series,
            &markers,
            &format!(
                "Scott's rule: h = {:.2e} (all), {:.2e} (held out)",
                all.bandwidth(),
                held.bandwidth()
            ),
            &self.figure_stem("kde"),
        )
    }

    /// The latent codes' 2-D PCA projection and the share of variance of
    /// each component.
    pub fn pca_projection(&self) -> Result<(Vec<[f64; 2]>, [f64; 2])> {
        pca_2d(&self.analysis()?.latent)
    }

    /// The PCA scatter of the encoder's latent codes; rings mark the images
    /// flagged at p80.
    pub fn pca(&self) -> Result<Figure> {
        let run = self.baseline()?;
        let latent = &self.analysis()?.latent;
        let (points, explained) = self.pca_projection()?;
        let threshold = run.threshold(REPORT_PERCENTILE)?;
        let flagged: Vec<bool> = run.scores.iter().map(|r| r.error > threshold).collect();
        figures::pca_scatter(
            "PCA of the encoder's latent codes (test set)",
            &points,
            &run.labels(),
            &flagged,
            explained,
            &format!(
                "projected: {}-d encoder codes of {} test images; ring: flagged at p{REPORT_PERCENTILE}",
                latent.first().map_or(0, Vec::len),
                latent.len()
            ),
            &self.figure_stem("pca"),
        )
    }

    /// The test errors sorted ascending, with the `p`-th percentile.
    pub fn sorted_errors(&self, p: f64) -> Result<Figure> {
        let run = self.baseline()?;
        let mut pairs: Vec<(f64, bool)> =
            run.scores.iter().map(|r| (r.error, r.held_out)).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let threshold = run.threshold(p)?;
        figures::sorted_errors(
            "Test reconstruction errors, sorted (red: held-out class)",
            &pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            &pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
            threshold,
            &format!("p{p} threshold {threshold:.4}"),
            &self.figure_stem("sorted_errors"),
        )
    }

    /// AUROC and AUPRC of other aggregations of the same error maps.
    pub fn score_aggregation_rows(&self) -> Result<Vec<ScoreQuality>> {
        let maps = &self.analysis()?.maps;
        compare_aggregations(
            maps,
            &self.baseline()?.labels(),
            &Aggregation::defaults_for(self.prepared.cache.size()),
            self.config.resamples,
            self.config.seed,
        )
    }

    pub fn score_aggregation(&self) -> Result<DataFrame> {
        self.save_table(
            "score_aggregation",
            quality_dataframe(&self.score_aggregation_rows()?)?,
        )
    }

    /// The autoencoder's AUROC beside two scores without a neural network.
    pub fn trivial_baseline_rows(&self) -> Result<Vec<ScoreQuality>> {
        let run = self.baseline()?;
        let labels = run.labels();
        let cache = &self.prepared.cache;
        let test = self.test_rows();
        let train = self.prepared.manifest.indices(Split::Train);
        let side = cache.size().min(32);
        let components = 32.min(train.len().saturating_sub(1)).max(1);
        let measure = |name: String, scores: &[f64]| {
            ScoreQuality::measure(
                name,
                scores,
                &labels,
                self.config.resamples,
                self.config.seed,
            )
        };
        Ok(vec![
            measure(
                format!(
                    "autoencoder ({}) reconstruction MSE",
                    run.record.architecture
                ),
                &run.errors(),
            )?,
            measure(
                format!(
                    "PCA ({components} components, {side}x{side} px, fitted on train) \
                     reconstruction MSE"
                ),
                &pca_reconstruction_scores(cache, &train, &test, side, components)?,
            )?,
            measure(
                "DEFLATE bytes per pixel (image complexity)".into(),
                &compression_scores(cache, &test),
            )?,
        ])
    }

    pub fn trivial_baselines(&self) -> Result<DataFrame> {
        self.save_table(
            "trivial_baselines",
            quality_dataframe(&self.trivial_baseline_rows()?)?,
        )
    }

    // --- Section 8: refinement -----------------------------------------

    /// Trains (or loads) every model for every seed.
    fn refinement_runs(&self) -> Result<&Vec<Vec<TrainedRun>>> {
        get_or_try_init(&self.refinement, || {
            (0..self.config.seeds as u64)
                .map(|s| {
                    let seed = self.config.seed + s;
                    let models = self.config.models.iter();
                    models.map(|&model| self.trained(model, seed)).collect()
                })
                .collect()
        })
    }

    /// The comparison of the models (`comparison.csv`) and, over seeds
    /// (`comparison_seeds.csv`).
    pub fn refinement(&self) -> Result<&Refinement> {
        get_or_try_init(&self.comparison, || self.compute_refinement())
    }

    fn compute_refinement(&self) -> Result<Refinement> {
        let runs = self.refinement_runs()?;
        let mut per_seed = Vec::new();
        for seed_runs in runs {
            let dirs: Vec<PathBuf> = seed_runs.iter().map(|r| r.dir.clone()).collect();
            per_seed.push(compare_runs(&dirs, self.config.seed)?);
        }
        let over_seeds = (0..self.config.models.len())
            .map(|m| {
                let of = |f: fn(&ComparisonRow) -> f64| {
                    MeanStd::of(&per_seed.iter().map(|rows| f(&rows[m])).collect::<Vec<_>>())
                };
                SeedSummary {
                    model: per_seed[0][m].model.clone(),
                    seeds: per_seed.len(),
                    mean_test_error: of(|r| r.mean_test_error),
                    auroc: of(|r| r.auroc.estimate),
                    auprc: of(|r| r.auprc),
                    tpr_p80: of(|r| r.tpr_p80),
                    fpr_p80: of(|r| r.fpr_p80),
                }
            })
            .collect();
        let refinement = Refinement {
            rows: per_seed.swap_remove(0),
            over_seeds,
        };
        self.save_table("comparison", comparison_table(&refinement.rows)?)?;
        self.save_table("comparison_seeds", seeds_table(&refinement.over_seeds)?)?;
        Ok(refinement)
    }

    /// [`Self::refinement`]'s comparison table, at the study's seed.
    pub fn comparison(&self) -> Result<DataFrame> {
        comparison_table(&self.refinement()?.rows)
    }

    /// [`Self::refinement`]'s mean and standard deviation over seeds.
    pub fn comparison_over_seeds(&self) -> Result<DataFrame> {
        seeds_table(&self.refinement()?.over_seeds)
    }

    /// Every model at the study's seed on every Caltech-101 image outside
    /// the pool (`comparison_unseen.csv`): AUROC with its interval and each
    /// model's gain over the one before with a paired interval, which
    /// resolves steps that the test split's 30 anomalies cannot. Each run's
    /// `unseen_scores.csv` is computed once and reused.
    pub fn unseen_comparison(&self) -> Result<DataFrame> {
        let runs = &self.refinement_runs()?[0];
        for run in runs.iter().filter(|r| !has_current_unseen_scores(&r.dir)) {
            let rows = score_unseen(
                &run.model,
                &self.prepared,
                &self.config.data_dir,
                &self.device.device,
                self.config.show_progress,
            )?;
            write_unseen_scores(&run.dir.join(UNSEEN_SCORES_FILE), &rows)?;
        }
        let dirs: Vec<PathBuf> = runs.iter().map(|r| r.dir.clone()).collect();
        self.save_table(
            "comparison_unseen",
            unseen_comparison_table(&compare_unseen(
                &dirs,
                self.config.resamples,
                self.config.seed,
            )?)?,
        )
    }

    /// The same test images reconstructed by every model: `n / 2` normal
    /// images and `n / 2` held-out ones.
    pub fn refinement_reconstructions(&self, n: usize) -> Result<Figure> {
        let runs = &self.refinement_runs()?[0];
        let test = self.test_rows();
        let scores = &runs[0].scores;
        let half = (n / 2).max(1);
        let chosen: Vec<usize> = (0..scores.len())
            .filter(|&i| !scores[i].held_out)
            .take(half)
            .chain((0..scores.len()).filter(|&i| scores[i].held_out).take(half))
            .collect();
        let rows: Vec<usize> = chosen.iter().map(|&i| test[i]).collect();
        let mut tiles: Vec<Tile> = chosen
            .iter()
            .map(|&i| self.tile(test[i], scores[i].class.clone(), None))
            .collect();
        let mut labels = vec!["original".to_string()];
        for run in runs {
            let maps = error_maps(&run.model, &self.prepared.cache, &rows, &self.device.device);
            for (m, &i) in maps.iter().zip(&chosen) {
                tiles.push(map_tile(
                    m,
                    &m.reconstruction,
                    format!("error {:.4}", run.scores[i].error),
                ));
            }
            labels.push(run.record.architecture.to_string());
        }
        figures::image_grid(
            "The same test images reconstructed by each model",
            &tiles,
            chosen.len(),
            Some(&labels),
            &self.figure_stem("refinement_reconstructions"),
        )
    }

    /// Mean test error per model (whiskers: ± one standard deviation over
    /// seeds, when there are several).
    pub fn refinement_error_bars(&self) -> Result<Figure> {
        let r = self.refinement()?;
        let bars: Vec<Bar> = r
            .over_seeds
            .iter()
            .map(|s| Bar {
                label: s.model.clone(),
                value: s.mean_test_error.mean,
                whisker: (s.seeds > 1).then_some((
                    s.mean_test_error.mean - s.mean_test_error.std,
                    s.mean_test_error.mean + s.mean_test_error.std,
                )),
            })
            .collect();
        figures::bar_chart(
            &seed_title("Mean test reconstruction error per model", r),
            "mean test MSE",
            &bars,
            &self.figure_stem("refinement_error"),
        )
    }

    /// AUROC per model with its bootstrap 95 % interval.
    pub fn refinement_auroc_bars(&self) -> Result<Figure> {
        let r = self.refinement()?;
        let bars: Vec<Bar> = r
            .rows
            .iter()
            .map(|row| Bar {
                label: row.model.clone(),
                value: row.auroc.estimate,
                whisker: Some((row.auroc.low, row.auroc.high)),
            })
            .collect();
        figures::bar_chart(
            "Detection quality per model: AUROC with bootstrap 95% CI",
            "AUROC (held-out class vs rest)",
            &bars,
            &self.figure_stem("refinement_auroc"),
        )
    }
}

impl Study {
    // --- Grading: the report's claims ----------------------------------

    /// The report's claims of section `section` (2, 6, 7 or 8) beside this
    /// study's values, with verdicts (see [`crate::claims`]).
    pub fn claims(&self, section: u8) -> Result<ClaimTable> {
        check_section(section, &self.evidence(&[section])?)
    }

    /// What the claims of `sections` are checked against: the dataset scan
    /// (section 2), the baseline's test scores (6, 7) and every model of
    /// the refinement (8), each computed or loaded once per study.
    pub fn evidence(&self, sections: &[u8]) -> Result<Evidence> {
        let wants = |s| sections.contains(&s);
        Ok(Evidence {
            measured_at: MeasuredAt {
                profile: self.profile,
                image_size: self.prepared.cache.size(),
                pool: self.profile.settings().pool,
            },
            dataset: wants(2).then(|| self.dataset_counts()).transpose()?,
            baseline: (wants(6) || wants(7))
                .then(|| self.baseline().map(|b| b.scores.clone()))
                .transpose()?,
            baseline_auroc: wants(7).then(|| self.auroc()).transpose()?,
            models: if wants(8) {
                self.model_scores()?
            } else {
                Vec::new()
            },
            resamples: self.config.resamples,
            seed: self.config.seed,
        })
    }

    fn dataset_counts(&self) -> Result<DatasetCounts> {
        let dataset = Caltech101::scan(&self.config.data_dir, true)?;
        let background = dataset
            .classes()
            .iter()
            .filter(|c| c.name == BACKGROUND_CLASS)
            .count();
        Ok(DatasetCounts {
            images: dataset.images().len(),
            object_classes: dataset.classes().len() - background,
            background_classes: background,
        })
    }

    fn model_scores(&self) -> Result<Vec<ModelScores>> {
        let rows = &self.refinement()?.rows;
        let runs = &self.refinement_runs()?[0];
        Ok(runs
            .iter()
            .zip(rows)
            .map(|(run, row)| ModelScores {
                model: row.model.clone(),
                errors: run.errors(),
                held_out: run.labels(),
                auroc: row.auroc.estimate,
            })
            .collect())
    }
}

fn seed_title(title: &str, r: &Refinement) -> String {
    match r.over_seeds.first().map_or(1, |s| s.seeds) {
        1 => title.to_string(),
        n => format!("{title} (mean ± std over {n} seeds)"),
    }
}

/// `DIR/runs/<model>` at the study's seed, `DIR/runs/<model>-seed<N>` else.
fn run_dir(config: &StudyConfig, architecture: Architecture, seed: u64) -> PathBuf {
    let name = if seed == config.seed {
        architecture.to_string()
    } else {
        format!("{architecture}-seed{seed}")
    };
    config.out.join("runs").join(name)
}

fn map_tile(map: &ErrorMap, rgb: &[u8], caption: String) -> Tile {
    Tile {
        size: map.size,
        rgb: rgb.to_vec(),
        caption,
        border: None,
    }
}

fn quality_dataframe(rows: &[ScoreQuality]) -> Result<DataFrame> {
    Ok(DataFrame::new_infer_height(vec![
        column("score", rows, |r| r.score.as_str()),
        column("auroc", rows, |r| r.auroc.estimate),
        column("auroc_low", rows, |r| r.auroc.low),
        column("auroc_high", rows, |r| r.auroc.high),
        column("auprc", rows, |r| r.auprc),
    ])?)
}

/// The comparison as a table.
pub fn comparison_table(rows: &[ComparisonRow]) -> Result<DataFrame> {
    Ok(DataFrame::new_infer_height(vec![
        column("model", rows, |r| r.model.as_str()),
        column("parameters", rows, |r| r.parameters as u64),
        column("train_seconds", rows, |r| r.train_seconds),
        column("mean_test_error", rows, |r| r.mean_test_error),
        column("auroc", rows, |r| r.auroc.estimate),
        column("auroc_low", rows, |r| r.auroc.low),
        column("auroc_high", rows, |r| r.auroc.high),
        column("auprc", rows, |r| r.auprc),
        column("tpr_p80", rows, |r| r.tpr_p80),
        column("fpr_p80", rows, |r| r.fpr_p80),
    ])?)
}

/// The comparison on unseen images as a table (the first model's gain
/// columns are empty).
pub fn unseen_comparison_table(rows: &[UnseenComparisonRow]) -> Result<DataFrame> {
    let gain = |f: fn(&ConfidenceInterval) -> f64| {
        move |r: &UnseenComparisonRow| r.auroc_gain.as_ref().map(f)
    };
    Ok(DataFrame::new_infer_height(vec![
        column("model", rows, |r| r.model.as_str()),
        column("images", rows, |r| r.images as u64),
        column("anomalies", rows, |r| r.anomalies as u64),
        column("mean_error", rows, |r| r.mean_error),
        column("auroc", rows, |r| r.auroc.estimate),
        column("auroc_low", rows, |r| r.auroc.low),
        column("auroc_high", rows, |r| r.auroc.high),
        column("auroc_gain", rows, gain(|g| g.estimate)),
        column("auroc_gain_low", rows, gain(|g| g.low)),
        column("auroc_gain_high", rows, gain(|g| g.high)),
    ])?)
}

/// The summary over seeds as a table.
pub fn seeds_table(rows: &[SeedSummary]) -> Result<DataFrame> {
    Ok(DataFrame::new_infer_height(vec![
        column("model", rows, |r| r.model.as_str()),
        column("seeds", rows, |r| r.seeds as u64),
        column("mean_test_error", rows, |r| r.mean_test_error.mean),
        column("mean_test_error_std", rows, |r| r.mean_test_error.std),
        column("auroc", rows, |r| r.auroc.mean),
        column("auroc_std", rows, |r| r.auroc.std),
        column("auprc", rows, |r| r.auprc.mean),
        column("auprc_std", rows, |r| r.auprc.std),
        column("tpr_p80", rows, |r| r.tpr_p80.mean),
        column("fpr_p80", rows, |r| r.fpr_p80.mean),
    ])?)
}

/// The value in `cell`, computed by `init` the first time (`OnceCell`'s
/// own `get_or_try_init` is not stable yet).
fn get_or_try_init<T>(cell: &OnceCell<T>, init: impl FnOnce() -> Result<T>) -> Result<&T> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = init()?;
    Ok(cell.get_or_init(|| value))
}
