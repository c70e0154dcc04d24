//! `caltech-anomaly reproduce`: report sections 4-8 end to end, and two
//! beyond it (9: the detector ladder; 10: the resize ablation), into one
//! study directory holding every figure, every table (CSV), `metrics.json`
//! and the index `report.md` / `report.html`.
//!
//! It composes the same step functions the notebooks call, each once per
//! run, and passes their values on. Nothing is pasted: every number comes
//! from the runs' scores and the models. A second call reuses the finished
//! runs (by run key) and resumes an interrupted one from its checkpoint.

mod beyond;
mod metrics;
mod sections;

pub use beyond::*;
pub use metrics::*;
pub(crate) use sections::*;

use std::path::PathBuf;
use std::time::Instant;

use polars::prelude::DataFrame;
use serde::Serialize;

use crate::analysis::{Bootstrap, DEFAULT_PERCENTILES};
use crate::autoencoder::{Architecture, ModelConfig, TrainingConfig};
use crate::data::{Prepared, SplitConfig};
use crate::error::{Error, Result};
use crate::scoring::REPORT_PERCENTILE;
use crate::study::{Profile, ProfileSettings, Report, Study, StudyConfig};

pub const METRICS_FILE: &str = "metrics.json";

/// The models of the resize ablation (section 10): the report's and the
/// best without pretraining.
pub const ABLATION_MODELS: [Architecture; 2] = [Architecture::Baseline, Architecture::Improved3];

/// What `reproduce` (and `refine`) run, beyond the study directory.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceConfig {
    pub study: StudyConfig,
    /// Seed of the split and of the first training seed.
    pub seed: u64,
    /// How many training seeds the refinement trains (`seed`, `seed + 1`,
    /// …); `None` takes the profile's ([`ProfileSettings::seeds`]).
    pub seeds: Option<usize>,
    /// Models of the refinement, the study's main model first.
    pub models: Vec<Architecture>,
    /// The detection sweep.
    pub percentiles: Vec<f64>,
    /// The operating point of the confusion matrix and the model rates.
    pub percentile: f64,
    pub bootstrap: Bootstrap,
    /// Models trained again on antialiased images (section 10); empty
    /// skips it.
    pub ablation_models: Vec<Architecture>,
    /// The command line that asked for this run, recorded in
    /// `metrics.json` (the CLI sets it; `None` from a notebook or a test).
    pub command: Option<String>,
}

impl ReproduceConfig {
    /// The report's settings in a study: seed 42, the profile's training
    /// seeds, the four models, the p75-p95 sweep, p80, 2,000 resamples.
    pub fn new(study: StudyConfig) -> Self {
        Self {
            study,
            seed: 42,
            seeds: None,
            models: Architecture::ALL.to_vec(),
            percentiles: DEFAULT_PERCENTILES.to_vec(),
            percentile: REPORT_PERCENTILE,
            bootstrap: Bootstrap::default(),
            ablation_models: ABLATION_MODELS.to_vec(),
            command: None,
        }
    }

    /// Errors on an empty model list or sweep, zero seeds or resamples, or
    /// percentiles outside `0..=100`.
    pub fn check(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::InvalidParameter("no model to train".into()));
        }
        if self.seeds == Some(0) || self.bootstrap.resamples == 0 {
            return Err(Error::InvalidParameter(
                "seeds and bootstrap resamples must be at least 1".into(),
            ));
        }
        let mut all = self.percentiles.clone();
        all.push(self.percentile);
        if self.percentiles.is_empty() || all.iter().any(|p| !(0.0..=100.0).contains(p)) {
            return Err(Error::InvalidParameter(format!(
                "percentiles {all:?} must be non-empty and within 0..=100"
            )));
        }
        Ok(())
    }

    /// The split: the report's, with this seed and the profile's pool.
    pub fn split(&self, profile: Profile) -> SplitConfig {
        SplitConfig {
            seed: self.seed,
            pool: profile.settings().pool,
            ..SplitConfig::default()
        }
    }

    /// One training configuration per model at the first seed, the
    /// profile's epochs and batch, Adam at 1e-3.
    pub fn training_configs(&self, profile: Profile) -> Vec<TrainingConfig> {
        let s = profile.settings();
        self.models
            .iter()
            .map(|&m| {
                TrainingConfig::new(ModelConfig::new(m, s.image_size))
                    .with_epochs(s.epochs)
                    .with_batch_size(s.batch_size)
                    .with_seed(self.seed)
            })
            .collect()
    }

    /// The resize ablation's models at `profile`: none where the profile
    /// runs no ablation ([`ProfileSettings::resize_ablation`]).
    pub fn ablation_models_at(&self, profile: Profile) -> &[Architecture] {
        match profile.settings().resize_ablation {
            true => &self.ablation_models,
            false => &[],
        }
    }

    /// The training seeds of the refinement at `profile`: [`Self::seeds`]
    /// of them, else the profile's, from [`Self::seed`] on.
    pub fn training_seeds(&self, profile: Profile) -> Vec<u64> {
        let settings = ProfileSettings {
            seeds: self.seeds.unwrap_or(profile.settings().seeds),
            ..profile.settings()
        };
        settings.training_seeds(self.seed)
    }
}

/// What `reproduce` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReproduceOutcome {
    pub metrics: Metrics,
    pub metrics_path: PathBuf,
    pub report_md: PathBuf,
    pub report_html: PathBuf,
    /// Every figure and table the report links to.
    pub files: Vec<PathBuf>,
}

/// The open study, its split and the report being written.
pub(crate) struct Context<'a> {
    config: &'a ReproduceConfig,
    study: Study,
    prepared: Prepared,
    report: Report,
    /// Tables written but not shown (linked from the text).
    linked: Vec<PathBuf>,
}

impl Context<'_> {
    /// Saves `df` as `tables/<name>.csv` and shows it under `caption`.
    fn table(&mut self, name: &str, caption: &str, df: DataFrame) -> Result<()> {
        let df = self.study.table(name, df)?;
        self.report
            .table(caption, &self.study.table_path(name), &df);
        Ok(())
    }

    /// Saves `df` as `tables/<name>.csv`, linked rather than shown.
    fn linked_table(&mut self, name: &str, df: DataFrame) -> Result<()> {
        self.study.table(name, df)?;
        self.linked.push(self.study.table_path(name));
        Ok(())
    }
}

/// Runs report sections 4-8, the ladder (9) and the resize ablation (10)
/// into `config.study.out`.
pub fn reproduce(config: ReproduceConfig) -> Result<ReproduceOutcome> {
    config.check()?;
    // Before any long step: the checkout's commit as the run starts, the
    // source `cargo run` built the binary from.
    let provenance = Provenance::now(config.command.clone());
    let mut clock = SectionClock::new(config.study.show_progress);
    clock.start("section 4: loading and preprocessing");
    let study = Study::open(config.study.clone())?;
    let size = study.profile.settings().image_size;
    let prepared = study.prepare(config.split(study.profile), size)?;
    let mut cx = Context {
        config: &config,
        study,
        prepared,
        report: Report::default(),
        linked: Vec::new(),
    };
    let split = section4(&mut cx)?;
    clock.start("section 5: training the baseline (resumes if interrupted)");
    let configs = config.training_configs(cx.study.profile);
    let baseline = cx.study.train(&cx.prepared, &configs[0])?;
    let analysis = Analysis::of(&baseline, &cx.prepared, &cx.study)?;
    section5(&mut cx, &baseline, &analysis)?;
    clock.start("section 6: anomaly detection");
    let detection = section6(&mut cx, &baseline, &analysis)?;
    clock.start("section 7: evaluation");
    let evaluation = section7(&mut cx, &baseline, &analysis)?;
    clock.start("section 8: refinement (trains the other models; resumes if interrupted)");
    let seeds = config.training_seeds(cx.study.profile);
    let runs = cx.study.train_seeds(&cx.prepared, &configs, &seeds)?;
    let (refined, unseen) = section8(&mut cx, &runs)?;
    clock.start(
        "section 9: beyond reconstruction (pretrained features; extracted once, then cached)",
    );
    let beyond = section9(&mut cx, &runs[0], &unseen, &evaluation.trivial_scores)?;
    let resize_ablation = if config.ablation_models_at(cx.study.profile).is_empty() {
        Vec::new()
    } else {
        clock.start("section 10: the resize ablation (trains the ablation's models again)");
        section10(&mut cx, &runs[0], &unseen)?
    };
    clock.start("the report's claims beside ours");
    let claims = claims_section(&mut cx, &baseline, &evaluation, (&runs, &seeds))?;
    let metrics = Metrics {
        provenance,
        profile: cx.study.profile,
        profile_reason: cx.study.profile_reason.clone(),
        device: cx.study.device.choice.to_string(),
        precision: cx.study.precision.precision,
        precision_reason: cx.study.precision.reason.clone(),
        seed: config.seed,
        split,
        baseline: baseline_metrics(&baseline, detection, &evaluation),
        score_aggregation: evaluation.aggregation.clone(),
        trivial_baselines: evaluation.trivial.clone(),
        refinement: refined.rows,
        refinement_over_seeds: refined.over_seeds,
        beyond_reconstruction: beyond,
        resize_ablation,
        claims: claims.rows,
        sections: Vec::new(),
    };
    let metrics = Metrics {
        sections: clock.finish(),
        ..metrics
    };
    write_outputs(cx, metrics)
}

/// The wall time of one step of `reproduce`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionTime {
    pub section: String,
    pub seconds: f64,
}

/// Times `reproduce`'s steps, one after the other, and says each as it
/// starts.
struct SectionClock {
    started: Instant,
    verbose: bool,
    current: Option<(String, Instant)>,
    done: Vec<SectionTime>,
}

impl SectionClock {
    fn new(verbose: bool) -> Self {
        Self {
            started: Instant::now(),
            verbose,
            current: None,
            done: Vec::new(),
        }
    }

    /// Ends the step in progress and starts `what`.
    fn start(&mut self, what: &str) {
        self.stop();
        if self.verbose {
            let at = self.started.elapsed().as_secs_f64();
            eprintln!("[reproduce {at:>6.1} s] {what}");
        }
        self.current = Some((what.to_string(), Instant::now()));
    }

    fn stop(&mut self) {
        if let Some((section, started)) = self.current.take() {
            let seconds = started.elapsed().as_secs_f64();
            self.done.push(SectionTime { section, seconds });
        }
    }

    /// Every step's wall time.
    fn finish(mut self) -> Vec<SectionTime> {
        self.stop();
        self.done
    }
}
