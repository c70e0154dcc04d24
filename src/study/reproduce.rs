//! `caltech-anomaly reproduce`: report sections 4-8 end to end, and two
//! beyond it (9: the detector ladder; 10: the resize ablation), into one
//! study directory holding every figure, every table (CSV), `metrics.json`
//! and the index `report.md` / `report.html`.
//!
//! It composes the same step functions the notebooks call, each once per
//! run, and passes their values on. Nothing is pasted: every number comes
//! from the runs' scores and the models. A second call reuses the finished
//! runs (by run key) and resumes an interrupted one from its checkpoint.

use std::path::PathBuf;
use std::time::Instant;

use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use crate::analysis::{
    Aggregation, Bootstrap, ComparisonRow, DEFAULT_PERCENTILES, DetectionRow, GALLERY_PERCENTILE,
    LadderRow, OperatingPoint, ScoreQuality, SeedSummary, TrivialScore, UnseenComparisonRow,
    autoencoder_detectors, best_of, bf16_passes, class_counts, class_counts_dataframe,
    compare_aggregations, comparison_table, detection_dataframe, detection_table, error_density,
    false_positives, fused, ladder, ladder_summary, ladder_table, latent_pca, missed_anomalies,
    operating_point, outliers, outliers_dataframe, per_class, per_class_dataframe, position, pr,
    precision_ablation, quality_dataframe, recommendations, refinement, resize_ablation, roc,
    same_images, seeds_table, summary, trivial_baselines, trivial_detectors, trivial_scores,
    unseen_comparison, unseen_comparison_table, unseen_scores,
};
use crate::autoencoder::{
    Architecture, ErrorMap, ModelConfig, Trained, TrainingConfig, error_maps, latent_codes,
    score_split,
};
use crate::backend::Precision;
use crate::classifier::{
    ClassIndex, ClassifierConfig, ClassifierFit, ClassifierTrainingConfig, classifier_detectors,
};
use crate::data::{Prepared, Resize, Split, SplitConfig};
use crate::error::{Error, Result};
use crate::features::{DEFAULT_RIDGE, EfficientNetLite0, FeatureBank, weights_path};
use crate::figures::plot;
use crate::io::write_bytes_atomic;
use crate::scoring::{DetectorScores, REPORT_PERCENTILE, Scores, UnseenRow};
use crate::stats::ConfidenceInterval;
use crate::study::{
    ClaimCheck, ClaimTable, Evidence, MeasuredAt, ModelScores, Profile, Report, Study, StudyConfig,
    Verdict, check, dataset_counts, report_claims,
};

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
    /// Training seeds of the refinement (`seed`, `seed + 1`, …).
    pub seeds: usize,
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
}

impl ReproduceConfig {
    /// The report's settings in a study: seed 42, one seed, the four
    /// models, the p75-p95 sweep, p80, 2,000 resamples.
    pub fn new(study: StudyConfig) -> Self {
        Self {
            study,
            seed: 42,
            seeds: 1,
            models: Architecture::ALL.to_vec(),
            percentiles: DEFAULT_PERCENTILES.to_vec(),
            percentile: REPORT_PERCENTILE,
            bootstrap: Bootstrap::default(),
            ablation_models: ABLATION_MODELS.to_vec(),
        }
    }

    /// Errors on an empty model list or sweep, zero seeds or resamples, or
    /// percentiles outside `0..=100`.
    pub fn check(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::InvalidParameter("no model to train".into()));
        }
        if self.seeds == 0 || self.bootstrap.resamples == 0 {
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

    /// The label-aware classifier for `prepared`'s classes: the profile's
    /// image size, batch and classifier epochs, at the first seed.
    pub fn classifier_config(
        &self,
        profile: Profile,
        prepared: &Prepared,
    ) -> ClassifierTrainingConfig {
        let s = profile.settings();
        let classes = ClassIndex::of(prepared).names.len();
        ClassifierTrainingConfig::new(ClassifierConfig::new(s.image_size, classes))
            .with_epochs(s.classifier_epochs)
            .with_batch_size(s.batch_size)
            .with_seed(self.seed)
    }

    /// The resize ablation's models at `profile`: none at `full`, whose
    /// 256 px images are downscaled too little from Caltech-101's
    /// (about 300 px) for the resize filter's aliasing to matter; the
    /// ablation measures it at 64 px.
    pub fn ablation_models_at(&self, profile: Profile) -> &[Architecture] {
        match profile {
            Profile::Full => &[],
            _ => &self.ablation_models,
        }
    }

    /// The training seeds of the refinement.
    pub fn training_seeds(&self) -> Vec<u64> {
        (0..self.seeds as u64).map(|s| self.seed + s).collect()
    }
}

/// The split's sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
    /// Held-out images, all in test.
    pub test_held_out: usize,
}

/// The baseline's headline numbers (sections 5-7).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineMetrics {
    pub model: String,
    pub run: PathBuf,
    pub parameters: usize,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub train_seconds: f64,
    pub test_images: usize,
    pub mean_test_error: f64,
    pub auroc: ConfidenceInterval,
    pub auprc: ConfidenceInterval,
    /// Both threshold sources for each percentile.
    pub detection: Vec<DetectionRow>,
    pub confusion: OperatingPoint,
    pub kde_bandwidth_all: f64,
    pub kde_bandwidth_held_out: f64,
    /// Share of the latent codes' variance on PC1 and PC2.
    pub pca_explained: [f64; 2],
}

/// `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub profile: Profile,
    pub profile_reason: String,
    pub device: String,
    pub seed: u64,
    pub split: SplitSizes,
    pub baseline: BaselineMetrics,
    pub score_aggregation: Vec<ScoreQuality>,
    pub trivial_baselines: Vec<ScoreQuality>,
    pub refinement: Vec<ComparisonRow>,
    pub refinement_over_seeds: Vec<SeedSummary>,
    pub beyond_reconstruction: Beyond,
    /// Section 10; empty without ablation models.
    pub resize_ablation: Vec<UnseenComparisonRow>,
    /// The report's claims beside ours (`tables/claims.csv`).
    pub claims: Vec<ClaimCheck>,
    /// The autoencoders' arithmetic in training, and why.
    pub precision: Precision,
    pub precision_reason: String,
    /// Wall time of each step of this run (a step whose runs were loaded
    /// from disk is quick).
    pub sections: Vec<SectionTime>,
}

/// Section 9: every detector on one ladder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Beyond {
    /// Input side of the pretrained feature extractor.
    pub feature_size: usize,
    /// Wall-clock seconds of extracting the features of every image.
    pub feature_seconds: f64,
    /// Top-1 accuracy of the label-aware classifier on the validation split.
    pub classifier_validation_accuracy: f64,
    pub classifier_train_seconds: f64,
    pub ladder: Vec<LadderRow>,
    /// The detector every gain is measured against.
    pub reference: String,
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
struct Context<'a> {
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
    let runs = cx
        .study
        .train_seeds(&cx.prepared, &configs, &config.training_seeds())?;
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
    let claims = claims_section(&mut cx, &baseline, &evaluation, &runs[0])?;
    let metrics = Metrics {
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

/// Section 4: the split and the images.
fn section4(cx: &mut Context) -> Result<SplitSizes> {
    let summary = cx.prepared.summary();
    let (test, prepared) = (summary.count(Split::Test), &cx.prepared);
    cx.report
        .heading(2, "4. Loading and preprocessing the dataset");
    cx.report.text(format!(
        "Profile **{}** ({}), device **{}**. Caltech-101 from `{}`: a pool of {} images \
         split 70/15/15 with seed {}; the held-out class ({}) is moved out of train and \
         validation into test. Images resized to {s}×{s} (bilinear, as tf.image.resize) and \
         scaled to [0, 1].",
        cx.study.profile.name(),
        cx.study.profile_reason,
        cx.study.device.choice,
        cx.study.config.data_dir.display(),
        prepared.manifest.len(),
        prepared.config.split.seed,
        prepared.held_out_name(),
        s = prepared.cache.size(),
    ));
    let sizes = prepared.summary().to_dataframe()?;
    let classes = prepared.classes()?;
    cx.table("split_sizes", "Images per split", sizes)?;
    let overview = plot::class_overview(&cx.prepared, 32, &cx.study.figure("class_overview"))?;
    cx.report.figure(&overview);
    let held = plot::held_out_samples(&cx.prepared, 16, &cx.study.figure("held_out_samples"))?;
    cx.report.figure(&held);
    cx.linked_table("classes", classes)?;
    cx.report.text(
        "Every class with its TFDS label and images per split: [classes.csv](tables/classes.csv).",
    );
    Ok(SplitSizes {
        train: summary.count(Split::Train).images,
        validation: summary.count(Split::Validation).images,
        test: test.images,
        test_held_out: test.held_out,
    })
}

/// What the analysis of the baseline needs beyond its test scores,
/// computed once.
struct Analysis {
    /// Every test image, in test order.
    maps: Vec<ErrorMap>,
    validation: Scores,
    latent: Vec<Vec<f32>>,
}

impl Analysis {
    fn of(run: &Trained, prepared: &Prepared, study: &Study) -> Result<Self> {
        let device = &study.device.device;
        let test = prepared.manifest.indices(Split::Test);
        if test.len() != run.scores.len() {
            return Err(Error::InvalidParameter(format!(
                "{} scores for a test split of {} images",
                run.scores.len(),
                test.len()
            )));
        }
        let batch = run.config.batch_size;
        Ok(Self {
            maps: error_maps(&run.model, &prepared.cache, &test, device),
            validation: score_split(&run.model, prepared, Split::Validation, batch, device),
            latent: latent_codes(&run.model, &prepared.cache, &test, device),
        })
    }
}

/// Section 5: the model, its training and its reconstructions.
fn section5(cx: &mut Context, baseline: &Trained, analysis: &Analysis) -> Result<()> {
    let r = &baseline.record;
    cx.report.heading(2, "5. Autoencoder model architecture");
    cx.report.text(format!(
        "**{}**: {} parameters, trained for {} epochs (Adam, lr {}, batch {}, MSE); the \
         weights of epoch {}, best on validation, are kept. Mean test error {:.5}.",
        r.architecture,
        r.parameters,
        r.epochs_run,
        baseline.config.learning_rate,
        baseline.config.batch_size,
        r.best_epoch,
        r.mean_test_error,
    ));
    cx.report.code(baseline.model.to_string());
    cx.report
        .figure(&plot::loss(baseline, &cx.study.figure("loss_curves"))?);
    let n = analysis.maps.len().min(8);
    let first = (0..n).collect::<Vec<_>>();
    cx.report.figure(&plot::reconstructions(
        &analysis.maps[..n],
        &baseline.scores.pick(&first),
        &cx.study.figure("reconstructions"),
    )?);
    let worst = baseline.scores.highest(6);
    let maps: Vec<ErrorMap> = worst.iter().map(|&i| analysis.maps[i].clone()).collect();
    cx.report.figure(&plot::error_maps(
        &maps,
        &baseline.scores.pick(&worst),
        &cx.study.figure("error_maps"),
    )?);
    Ok(())
}

/// Section 6: thresholds, the flagged images, and the per-class evidence.
fn section6(
    cx: &mut Context,
    baseline: &Trained,
    analysis: &Analysis,
) -> Result<Vec<DetectionRow>> {
    let scores = &baseline.scores;
    let p = cx.config.percentile;
    cx.report.heading(2, "6. Anomaly detection");
    let counts = class_counts_dataframe(&class_counts(scores))?;
    cx.table("test_class_counts", "Test images per class", counts)?;
    let detection = detection_table(
        scores,
        Some(&analysis.validation.errors()),
        &cx.config.percentiles,
    )?;
    cx.report.text(
        "A test image is flagged when its error lies above the threshold. *test percentile* \
         is the report's threshold (the p-th percentile of the test errors themselves); \
         *validation percentile* is calibrated on the normal-only validation errors and \
         leaks nothing from test: its expected false-positive rate is 1 − p/100.",
    );
    let df = detection_dataframe(&detection)?;
    cx.table("thresholds", "Detection per threshold (thresholds.csv)", df)?;
    let g = GALLERY_PERCENTILE;
    let gallery_threshold = scores.threshold(g)?;
    let flagged = outliers(scores, gallery_threshold);
    cx.linked_table(&format!("outliers_p{g}"), outliers_dataframe(&flagged)?)?;
    let stem = cx.study.figure(&format!("outliers_p{g}"));
    let figure = plot::outlier_gallery(&cx.prepared, &flagged, (g, gallery_threshold), &stem)?;
    cx.report.figure(&figure);

    let threshold = scores.threshold(p)?;
    let classes = per_class(scores, threshold);
    cx.report.heading(3, "Recommendations, from the data");
    cx.report
        .text(recommendations(scores, &classes, threshold, p).0);
    cx.linked_table(&format!("per_class_p{p}"), per_class_dataframe(&classes)?)?;
    let missed = outliers_dataframe(&missed_anomalies(scores, threshold))?;
    cx.linked_table(&format!("missed_anomalies_p{p}"), missed)?;
    cx.report.text(format!(
        "Per-class flag rates: [per_class_p{p}.csv](tables/per_class_p{p}.csv); missed \
         held-out images: [missed_anomalies_p{p}.csv](tables/missed_anomalies_p{p}.csv)."
    ));
    Ok(detection)
}

/// Section 7's values, for the metrics and the claims.
struct Evaluation {
    auroc: ConfidenceInterval,
    auprc: ConfidenceInterval,
    point: OperatingPoint,
    kde_bandwidths: (f64, f64),
    pca_explained: [f64; 2],
    aggregation: Vec<ScoreQuality>,
    trivial: Vec<ScoreQuality>,
    /// The scores behind `trivial`, for the ladder.
    trivial_scores: Vec<TrivialScore>,
}

/// Section 7: curves, the confusion matrix, densities, PCA, other scores.
fn section7(cx: &mut Context, baseline: &Trained, analysis: &Analysis) -> Result<Evaluation> {
    let (scores, bootstrap) = (&baseline.scores, cx.config.bootstrap);
    cx.report.heading(2, "7. Evaluation and visualisation");
    let (roc, pr) = (roc(scores, bootstrap)?, pr(scores, bootstrap)?);
    let point = operating_point(scores, cx.config.percentile)?;
    cx.report
        .text(summary(&roc, &pr, &point, &cx.prepared.held_out_name()).0);
    let density = error_density(scores)?;
    let latent = latent_pca(&analysis.latent)?;
    let figures = [
        plot::roc(&roc, &cx.study.figure("roc"))?,
        plot::pr(&pr, &cx.study.figure("pr"))?,
        plot::confusion(
            &point,
            &cx.study.figure(&format!("confusion_p{}", point.percentile)),
        )?,
        plot::density(
            scores,
            &density,
            &[80.0, 85.0, 90.0],
            &cx.study.figure("kde"),
        )?,
        plot::pca(&latent, scores, &point, &cx.study.figure("pca"))?,
        plot::sorted_errors(scores, &point, &cx.study.figure("sorted_errors"))?,
    ];
    for figure in &figures {
        cx.report.figure(figure);
    }
    let aggregation = compare_aggregations(
        &analysis.maps,
        &scores.labels(),
        &Aggregation::defaults_for(cx.prepared.cache.size()),
        bootstrap.resamples,
        bootstrap.seed,
    )?;
    let model = baseline.record.architecture.to_string();
    let trivial_scores = trivial_scores(&cx.prepared)?;
    let trivial = trivial_baselines(&model, scores, &trivial_scores, bootstrap)?;
    cx.report.heading(3, "Beyond the report: other scores");
    let caption = "Aggregating the same error maps differently";
    cx.table(
        "score_aggregation",
        caption,
        quality_dataframe(&aggregation)?,
    )?;
    let caption = "What the autoencoder adds: two scores without a neural network";
    cx.table("trivial_baselines", caption, quality_dataframe(&trivial)?)?;
    Ok(Evaluation {
        auroc: roc.auroc,
        auprc: pr.auprc,
        point,
        kde_bandwidths: (density.all.bandwidth(), density.held_out.bandwidth()),
        pca_explained: latent.explained,
        aggregation,
        trivial,
        trivial_scores,
    })
}

/// Section 8: every model on the same split, on the test split and on
/// every unseen image; returns the comparison and the first seed's unseen
/// scores.
fn section8(
    cx: &mut Context,
    runs: &[Vec<Trained>],
) -> Result<(crate::analysis::Refinement, Vec<Vec<UnseenRow>>)> {
    let (config, device) = (cx.config, cx.study.device.device.clone());
    let refined = refinement(runs, config.percentile, config.bootstrap)?;
    let more = if config.seeds > 1 {
        format!(" (and {} more seeds, summarised below)", config.seeds - 1)
    } else {
        String::new()
    };
    cx.report.heading(2, "8. Model refinement and optimisation");
    cx.report.text(format!(
        "Every model on the same split; training seed {}{more}. AUROC with a bootstrap 95% CI; \
         TPR/FPR at the p{} test threshold. The models are described in the README.",
        config.seed, config.percentile
    ));
    cx.table(
        "comparison",
        "Model comparison",
        comparison_table(&refined.rows)?,
    )?;
    let show = cx.study.config.show_progress;
    let unseen = runs[0]
        .iter()
        .map(|r| unseen_scores(r, &cx.prepared, &device, show))
        .collect::<Result<Vec<_>>>()?;
    let compared = unseen_comparison(&runs[0], &unseen, config.bootstrap)?;
    let caption = "The same models on every image outside the pool, with each model's paired \
                   AUROC gain over the one before";
    cx.table(
        "comparison_unseen",
        caption,
        unseen_comparison_table(&compared)?,
    )?;
    if config.seeds > 1 {
        let caption = "Mean (and standard deviation) over seeds";
        cx.table(
            "comparison_seeds",
            caption,
            seeds_table(&refined.over_seeds)?,
        )?;
    }
    let (chosen, maps) = same_images(&runs[0], &cx.prepared, 6, &device)?;
    let stem = cx.study.figure("refinement_reconstructions");
    let figures = [
        plot::same_images(&cx.prepared, &runs[0], &chosen, &maps, &stem)?,
        plot::error_bars(&refined, &cx.study.figure("refinement_error"))?,
        plot::auroc_bars(&refined, &cx.study.figure("refinement_auroc"))?,
    ];
    for figure in &figures {
        cx.report.figure(figure);
    }
    Ok((refined, unseen))
}

/// Section 9, beyond the report: trivial scores, the autoencoders, the
/// label-aware classifier, ImageNet-pretrained features (kNN and Gaussian)
/// and the fusion of the reference autoencoder with the best of those, on
/// one ladder.
fn section9(
    cx: &mut Context,
    runs: &[Trained],
    unseen: &[Vec<UnseenRow>],
    trivial: &[TrivialScore],
) -> Result<Beyond> {
    let (config, device) = (cx.config, cx.study.device.device.clone());
    let show = cx.study.config.show_progress;
    let extractor = EfficientNetLite0::load(&weights_path(), &device)?;
    let size = cx.study.profile.settings().feature_size;
    let (data_dir, cache_dir) = (&cx.study.config.data_dir, &cx.study.config.cache_dir);
    let bank = FeatureBank::of_dataset(&extractor, data_dir, size, cache_dir, &device, show)?;
    let classifier_config = config.classifier_config(cx.study.profile, &cx.prepared);
    let classifier = cx
        .study
        .train_classifier(&cx.prepared, &classifier_config)?;
    let test = &runs[0].scores;
    let mut detectors = trivial_detectors(trivial, test);
    detectors.extend(autoencoder_detectors(runs, unseen));
    let (p, u) = (&cx.prepared, &unseen[0]);
    let fit = ClassifierFit::of(&classifier, p, DEFAULT_RIDGE, &device)?;
    detectors.extend(classifier_detectors(
        &classifier,
        &fit,
        p,
        test,
        u,
        &device,
        show,
    )?);
    let first_feature = detectors.len();
    let features = cx.study.fit_features(&bank, p, 5, DEFAULT_RIDGE)?;
    detectors.extend(features.detectors(&bank, test, u)?);
    let reference = position(&detectors, "improved3").unwrap_or(first_feature - 3);
    let best = best_of(&detectors, &[first_feature, first_feature + 1])?;
    detectors.push(fused(&detectors[reference], &detectors[best])?);
    let rows = ladder(&detectors, reference, config.percentile, config.bootstrap)?;

    cx.report
        .heading(2, "9. Beyond the report: detectors beyond reconstruction");
    cx.report.text(format!(
        "Every detector on the same split: scores without a network, the autoencoders, a \
         classifier of the {} normal classes trained from scratch on the train split (its \
         energy and the Mahalanobis distance of its penultimate features to the nearest class \
         mean; validation accuracy {:.3}), ImageNet-pretrained EfficientNet-Lite0 features \
         ({size}×{size} px input, (x − 127) / 128; extracted for all {} images in {:.0} s) \
         scored by the mean cosine distance to the 5 nearest train images and by the \
         Mahalanobis distance to a Gaussian fitted on them, and the rank average of {} with \
         the best of these. Gains are paired against {} on every image outside the pool.",
        classifier.config.model.classes,
        classifier.record.validation_accuracy,
        bank.paths.len(),
        bank.seconds,
        detectors[reference].name,
        detectors[reference].name,
    ));
    ladder_report(cx, &detectors, &rows, reference, best)?;
    Ok(Beyond {
        feature_size: size,
        feature_seconds: bank.seconds,
        classifier_validation_accuracy: classifier.record.validation_accuracy,
        classifier_train_seconds: classifier.record.train_s,
        ladder: rows,
        reference: detectors[reference].name.clone(),
    })
}

/// Section 9's summary, tables and figures.
fn ladder_report(
    cx: &mut Context,
    detectors: &[DetectorScores],
    rows: &[LadderRow],
    reference: usize,
    best: usize,
) -> Result<()> {
    cx.report.text(ladder_summary(rows, reference)?.0);
    cx.table("ladder", "The detector ladder", ladder_table(rows)?)?;
    let false_alarms = false_positives(detectors, cx.config.percentile, 3)?;
    let caption = "The object classes each detector flags most often";
    cx.table("ladder_false_positives", caption, false_alarms)?;
    let stem = cx.study.figure("disagreements");
    let figures = [
        plot::ladder_roc(detectors, &cx.study.figure("ladder_roc"))?,
        plot::disagreements(
            &cx.prepared,
            &detectors[reference],
            &detectors[best],
            6,
            &stem,
        )?,
    ];
    for figure in &figures {
        cx.report.figure(figure);
    }
    Ok(())
}

/// Section 10, the resize ablation: the ablation's models trained again on
/// the same split resized with the antialiased filter, paired against
/// TF's resize on the unseen images.
fn section10(
    cx: &mut Context,
    runs: &[Trained],
    unseen: &[Vec<UnseenRow>],
) -> Result<Vec<UnseenComparisonRow>> {
    let (config, profile) = (cx.config, cx.study.profile);
    let size = profile.settings().image_size;
    let prepared = cx
        .study
        .prepare_resized(config.split(profile), size, Resize::Antialiased)?;
    let device = cx.study.device.device.clone();
    let show = cx.study.config.show_progress;
    let (mut tf, mut antialiased) = (Vec::new(), Vec::new());
    for (run, rows) in runs.iter().zip(unseen) {
        if config.ablation_models.contains(&run.record.architecture) {
            let again = cx.study.train(&prepared, &run.config)?;
            let again_unseen = unseen_scores(&again, &prepared, &device, show)?;
            tf.push((run, rows.as_slice()));
            antialiased.push((again, again_unseen));
        }
    }
    let antialiased: Vec<_> = antialiased.iter().map(|(r, u)| (r, u.as_slice())).collect();
    let rows = resize_ablation(&tf, &antialiased, config.bootstrap)?;
    cx.report.heading(2, "10. The resize ablation");
    cx.report.text(format!(
        "The report shrinks images with `tf.image.resize`'s bilinear kernel, which reads 2 of \
         every `scale` source pixels per axis (no antialiasing). Here {} are trained again on \
         the same split resized with PIL's antialiased bilinear filter (every source pixel \
         contributes), everything else equal, and compared on the same unseen images; the \
         gain is antialiased minus TF, paired.",
        tf.iter()
            .map(|(r, _)| r.record.architecture.to_string())
            .collect::<Vec<_>>()
            .join(" and "),
    ));
    cx.table(
        "resize_ablation",
        "Unseen AUROC by resize method",
        unseen_comparison_table(&rows)?,
    )?;
    Ok(rows)
}

/// Mixed precision's quality guard, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionGuard {
    /// fp32 then bf16 per model; the bf16 row carries the paired gain.
    pub rows: Vec<UnseenComparisonRow>,
    /// [`bf16_passes`] on the rows.
    pub passes: bool,
}

/// Mixed precision's quality guard (`caltech-anomaly bench precision`):
/// `config`'s models trained in fp32 and in bf16 on its split and first
/// seed, compared on every unseen image; writes
/// `tables/precision_guard.csv` into the study. The runs are the study's
/// own, so `reproduce` in the same study reuses those of its precision
/// (and the other way round).
pub fn precision_guard(config: &ReproduceConfig) -> Result<PrecisionGuard> {
    config.check()?;
    let study = Study::open(config.study.clone())?;
    let size = study.profile.settings().image_size;
    let prepared = study.prepare(config.split(study.profile), size)?;
    let (device, show) = (&study.device.device, study.config.show_progress);
    let trained = |precision: Precision| -> Result<Vec<(Trained, Vec<UnseenRow>)>> {
        let configs = config.training_configs(study.profile);
        configs
            .into_iter()
            .map(|c| {
                let run = study.train(&prepared, &c.with_precision(precision))?;
                let unseen = unseen_scores(&run, &prepared, device, show)?;
                Ok((run, unseen))
            })
            .collect()
    };
    let (fp32, bf16) = (trained(Precision::Fp32)?, trained(Precision::Bf16)?);
    let rows = precision_ablation(&pairs(&fp32), &pairs(&bf16), config.bootstrap)?;
    study.table("precision_guard", unseen_comparison_table(&rows)?)?;
    Ok(PrecisionGuard {
        passes: bf16_passes(&rows),
        rows,
    })
}

/// Borrows each run with its unseen scores.
fn pairs(runs: &[(Trained, Vec<UnseenRow>)]) -> Vec<(&Trained, &[UnseenRow])> {
    runs.iter().map(|(r, u)| (r, u.as_slice())).collect()
}

/// The report's claims beside this study's values (`tables/claims.csv`),
/// as the section that opens `report.md`.
fn claims_section(
    cx: &mut Context,
    baseline: &Trained,
    evaluation: &Evaluation,
    runs: &[Trained],
) -> Result<ClaimTable> {
    let measured_at = MeasuredAt::of(cx.study.profile, &cx.prepared);
    let evidence = Evidence {
        dataset: Some(dataset_counts(&cx.study.config.data_dir)?),
        baseline: Some(baseline.scores.0.clone()),
        baseline_auroc: Some(evaluation.auroc),
        models: runs.iter().map(ModelScores::of).collect(),
        ..Evidence::at(measured_at, cx.config.bootstrap)
    };
    let claims = check(&report_claims()?, &evidence)?;
    let df = cx.study.table("claims", claims.to_dataframe()?)?;
    let mut section = Report::default();
    section.heading(2, "Reproducibility: the report's claims beside ours");
    section.text(format!(
        "Every numeric claim of the original report (`docs/report_claims.csv`) beside this \
         run's value for the same quantity, measured at profile **{}**: {} reproduced, {} not \
         reproduced, {} not comparable at this profile, {} inconsistent in the report itself, \
         {} not measured. A rate is compared through our Wilson 95% interval, a statistic \
         through our bootstrap 95% interval.",
        cx.study.profile.name(),
        claims.count(Verdict::Reproduced),
        claims.count(Verdict::NotReproduced),
        claims.count(Verdict::NotComparable),
        claims.count(Verdict::Inconsistent),
        claims.count(Verdict::NotMeasured),
    ));
    section.table(
        "The report's claims (claims.csv)",
        &cx.study.table_path("claims"),
        &df,
    );
    section.blocks.append(&mut cx.report.blocks);
    cx.report = section;
    Ok(claims)
}

fn baseline_metrics(
    baseline: &Trained,
    detection: Vec<DetectionRow>,
    evaluation: &Evaluation,
) -> BaselineMetrics {
    let r = &baseline.record;
    BaselineMetrics {
        model: r.architecture.to_string(),
        run: baseline.dir.clone(),
        parameters: r.parameters,
        epochs_run: r.epochs_run,
        best_epoch: r.best_epoch,
        train_seconds: r.timings.train_s,
        test_images: baseline.scores.len(),
        mean_test_error: baseline.scores.mean_error(),
        auroc: evaluation.auroc,
        auprc: evaluation.auprc,
        detection,
        confusion: evaluation.point,
        kde_bandwidth_all: evaluation.kde_bandwidths.0,
        kde_bandwidth_held_out: evaluation.kde_bandwidths.1,
        pca_explained: evaluation.pca_explained,
    }
}

/// Writes `metrics.json`, `report.md` and `report.html`.
fn write_outputs(mut cx: Context, metrics: Metrics) -> Result<ReproduceOutcome> {
    let out = cx.study.config.out.clone();
    let metrics_path = out.join(METRICS_FILE);
    write_bytes_atomic(&metrics_path, &serde_json::to_vec_pretty(&metrics)?)?;
    cx.report.text(format!(
        "Headline numbers: [{METRICS_FILE}]({METRICS_FILE})."
    ));
    let (report_md, report_html) = cx.report.write(
        &out,
        "Anomaly detection on Caltech-101 with a convolutional autoencoder",
    )?;
    let mut files = cx.report.linked_files();
    files.append(&mut cx.linked);
    Ok(ReproduceOutcome {
        metrics,
        metrics_path,
        report_md,
        report_html,
        files,
    })
}
