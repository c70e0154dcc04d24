//! `caltech-anomaly reproduce`: report sections 4-8 end to end, into one
//! directory holding every figure, every table (CSV), `metrics.json` and
//! the index `report.md` / `report.html`.
//!
//! Nothing is pasted: every number comes from the runs' `scores.csv` and
//! the models. A second call reuses the finished runs and resumes an
//! interrupted one from its last checkpoint.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::aggregate::ScoreQuality;
use crate::claims::{ClaimCheck, ClaimTable, Verdict, check, report_claims};
use crate::data::Split;
use crate::detect::DetectionRow;
use crate::error::Result;
use crate::evaluate::ConfidenceInterval;
use crate::fsutil::write_bytes_atomic;
use crate::profile::Profile;
use crate::refine::ComparisonRow;
use crate::report::Report;
use crate::study::{GALLERY_PERCENTILE, REPORT_PERCENTILE, SeedSummary, Study, StudyConfig};
use crate::table::write_dataframe_csv;

pub const METRICS_FILE: &str = "metrics.json";

/// The split's sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
    /// Held-out images, all in test.
    pub test_held_out: usize,
}

/// The confusion matrix at the report's p80 and its rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMetrics {
    pub percentile: f64,
    pub threshold: f64,
    pub tp: usize,
    #[serde(rename = "fn")]
    pub fn_: usize,
    pub tn: usize,
    pub fp: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub fpr: f64,
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
    pub confusion: ConfusionMetrics,
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
    /// The report's claims beside ours (`tables/claims.csv`).
    pub claims: Vec<ClaimCheck>,
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

/// Runs report sections 4-8 into `config.out`.
pub fn reproduce(config: StudyConfig) -> Result<ReproduceOutcome> {
    let started = Instant::now();
    let verbose = config.show_progress;
    let step = |what: &str| {
        if verbose {
            eprintln!(
                "[reproduce {:>6.1} s] {what}",
                started.elapsed().as_secs_f64()
            );
        }
    };
    step("section 4: loading and preprocessing");
    let study = Study::open(config)?;
    let mut report = Report::default();
    let summary = study.prepared.summary();
    let split = SplitSizes {
        train: summary.count(Split::Train).images,
        validation: summary.count(Split::Validation).images,
        test: summary.count(Split::Test).images,
        test_held_out: summary.count(Split::Test).held_out,
    };

    report.heading(2, "4. Loading and preprocessing the dataset");
    report.text(format!(
        "Profile **{}** ({}), device **{}**. Caltech-101 from `{}`: a pool of {} images \
         split 70/15/15 with seed {}; the held-out class ({}) is moved out of train and \
         validation into test. Images resized to {s}×{s} (bilinear, as tf.image.resize) and \
         scaled to [0, 1].",
        study.profile.name(),
        study.profile_reason,
        study.device.choice,
        study.config.data_dir.display(),
        study.prepared.manifest.len(),
        study.config.seed,
        study.held_out_name(),
        s = study.prepared.cache.size(),
    ));
    report.table(
        "Images per split",
        &study.table_path("split_sizes"),
        &study.split_sizes()?,
    );
    report.figure(&study.class_overview(32)?);
    report.figure(&study.held_out_samples(16)?);
    // Long: linked, not shown.
    study.classes()?;
    report.text(format!(
        "Every class with its TFDS label and images per split: [classes.csv]({}).",
        "tables/classes.csv"
    ));

    step("section 5: training the baseline (resumes if interrupted)");
    let baseline = study.baseline()?;
    report.heading(2, "5. Autoencoder model architecture");
    report.text(format!(
        "**{}**: {} parameters, trained for {} epochs (Adam, lr {}, batch {}, MSE); the \
         weights of epoch {}, best on validation, are kept. Mean test error {:.5}.",
        baseline.record.architecture,
        baseline.record.parameters,
        baseline.record.epochs_run,
        baseline.config.learning_rate,
        baseline.config.batch_size,
        baseline.record.best_epoch,
        baseline.record.mean_test_error,
    ));
    report.code(baseline.model.to_string());
    report.figure(&study.loss_curves()?);
    step("section 5: reconstructions and error maps");
    report.figure(&study.reconstructions(8)?);
    report.figure(&study.error_maps(6)?);

    step("section 6: anomaly detection");
    report.heading(2, "6. Anomaly detection");
    report.table(
        "Test images per class",
        &study.table_path("test_class_counts"),
        &study.test_class_counts()?,
    );
    let detection = study.detection_rows()?;
    report.text(
        "A test image is flagged when its error lies above the threshold. *test percentile* \
         is the report's threshold (the p-th percentile of the test errors themselves); \
         *validation percentile* is calibrated on the normal-only validation errors and \
         leaks nothing from test: its expected false-positive rate is 1 − p/100.",
    );
    report.table(
        "Detection per threshold (thresholds.csv)",
        &study.table_path("thresholds"),
        &study.detection()?,
    );
    report.figure(&study.outlier_gallery(GALLERY_PERCENTILE)?);
    report.heading(3, "Recommendations, from the data");
    report.text(study.recommendations(REPORT_PERCENTILE)?.0);
    report.text(format!(
        "Per-class flag rates: [per_class_p{p}.csv](tables/per_class_p{p}.csv); missed \
         held-out images: [missed_anomalies_p{p}.csv](tables/missed_anomalies_p{p}.csv).",
        p = REPORT_PERCENTILE
    ));

    step("section 7: evaluation");
    report.heading(2, "7. Evaluation and visualisation");
    let auroc = study.auroc()?;
    let auprc = study.auprc()?;
    report.text(study.evaluation_summary()?.0);
    report.figure(&study.roc()?);
    report.figure(&study.pr()?);
    let (threshold, cm) = study.confusion_matrix(REPORT_PERCENTILE)?;
    report.figure(&study.confusion(REPORT_PERCENTILE)?);
    let (kde_all, kde_held) = study.kde_estimates()?;
    report.figure(&study.kde()?);
    step("section 7: PCA of the latent codes");
    let (_, pca_explained) = study.pca_projection()?;
    report.figure(&study.pca()?);
    report.figure(&study.sorted_errors(REPORT_PERCENTILE)?);
    step("section 7: score aggregation and trivial baselines");
    let score_aggregation = study.score_aggregation_rows()?;
    report.heading(3, "Beyond the report: other scores");
    report.table(
        "Aggregating the same error maps differently",
        &study.table_path("score_aggregation"),
        &study.score_aggregation()?,
    );
    let trivial_baselines = study.trivial_baseline_rows()?;
    report.table(
        "What the autoencoder adds: two scores without a neural network",
        &study.table_path("trivial_baselines"),
        &study.trivial_baselines()?,
    );

    step("section 8: refinement (trains the other models; resumes if interrupted)");
    let refinement = study.refinement()?;
    report.heading(2, "8. Model refinement and optimisation");
    report.text(format!(
        "Every model on the same split; training seed {}{}. AUROC with a bootstrap 95% CI; \
         TPR/FPR at the p80 test threshold. The models are described in the README.",
        study.config.seed,
        if study.config.seeds > 1 {
            format!(
                " (and {} more seeds, summarised below)",
                study.config.seeds - 1
            )
        } else {
            String::new()
        }
    ));
    report.table(
        "Model comparison",
        &study.table_path("comparison"),
        &study.comparison()?,
    );
    report.table(
        "The same models on every image outside the pool, with each model's paired AUROC gain over the one before",
        &study.table_path("comparison_unseen"),
        &study.unseen_comparison()?,
    );
    if study.config.seeds > 1 {
        report.table(
            "Mean (and standard deviation) over seeds",
            &study.table_path("comparison_seeds"),
            &study.comparison_over_seeds()?,
        );
    }
    report.figure(&study.refinement_reconstructions(6)?);
    report.figure(&study.refinement_error_bars()?);
    report.figure(&study.refinement_auroc_bars()?);

    step("the report's claims beside ours");
    let (claims, mut top) = claims_section(&study)?;
    top.blocks.append(&mut report.blocks);
    report = top;

    let metrics = Metrics {
        profile: study.profile,
        profile_reason: study.profile_reason.clone(),
        device: study.device.choice.to_string(),
        seed: study.config.seed,
        split,
        baseline: BaselineMetrics {
            model: baseline.record.architecture.to_string(),
            run: baseline.dir.clone(),
            parameters: baseline.record.parameters,
            epochs_run: baseline.record.epochs_run,
            best_epoch: baseline.record.best_epoch,
            train_seconds: baseline.record.timings.train_s,
            test_images: baseline.scores.len(),
            mean_test_error: baseline.errors().iter().sum::<f64>() / baseline.scores.len() as f64,
            auroc,
            auprc,
            detection,
            confusion: ConfusionMetrics {
                percentile: REPORT_PERCENTILE,
                threshold,
                tp: cm.tp,
                fn_: cm.fn_,
                tn: cm.tn,
                fp: cm.fp,
                precision: cm.precision(),
                recall: cm.recall(),
                f1: cm.f1(),
                fpr: cm.fpr(),
            },
            kde_bandwidth_all: kde_all.bandwidth(),
            kde_bandwidth_held_out: kde_held.bandwidth(),
            pca_explained,
        },
        score_aggregation,
        trivial_baselines,
        refinement: refinement.rows.clone(),
        refinement_over_seeds: refinement.over_seeds.clone(),
        claims: claims.rows,
    };
    let out = &study.config.out;
    let metrics_path = out.join(METRICS_FILE);
    write_bytes_atomic(&metrics_path, &serde_json::to_vec_pretty(&metrics)?)?;
    report.text(format!(
        "Headline numbers: [{METRICS_FILE}]({METRICS_FILE})."
    ));
    let (report_md, report_html) = report.write(
        out,
        "Anomaly detection on Caltech-101 with a convolutional autoencoder",
    )?;
    let mut files = report.linked_files();
    files.extend(
        [
            "classes",
            "per_class_p80",
            "missed_anomalies_p80",
            "outliers_p90",
        ]
        .iter()
        .map(|t| study.table_path(t)),
    );
    step("done");
    Ok(ReproduceOutcome {
        metrics,
        metrics_path,
        report_md,
        report_html,
        files,
    })
}

/// The report's claims beside this study's values (`tables/claims.csv`), and
/// the report section that opens `report.md` with them.
fn claims_section(study: &Study) -> Result<(ClaimTable, Report)> {
    let claims = check(&report_claims()?, &study.evidence(&[2, 6, 7, 8])?)?;
    let csv = study.table_path("claims");
    let df = claims.to_dataframe()?;
    write_dataframe_csv(&csv, &df)?;
    let mut section = Report::default();
    section.heading(2, "Reproducibility: the report's claims beside ours");
    section.text(format!(
        "Every numeric claim of the original report (`docs/report_claims.csv`) beside this \
         run's value for the same quantity, measured at profile **{}**: {} reproduced, {} not \
         reproduced, {} not comparable at this profile, {} inconsistent in the report itself, \
         {} not measured. A rate is compared through our Wilson 95% interval, a statistic \
         through our bootstrap 95% interval.",
        study.profile.name(),
        claims.count(Verdict::Reproduced),
        claims.count(Verdict::NotReproduced),
        claims.count(Verdict::NotComparable),
        claims.count(Verdict::Inconsistent),
        claims.count(Verdict::NotMeasured),
    ));
    section.table("The report's claims (claims.csv)", &csv, &df);
    Ok((claims, section))
}
