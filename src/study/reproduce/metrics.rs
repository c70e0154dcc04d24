//! What `reproduce` writes besides figures and tables: `metrics.json`, the
//! report files and the claims section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::analysis::{
    ComparisonRow, DetectionRow, LadderRow, OperatingPoint, ScoreQuality, SeedSummary,
    UnseenComparisonRow,
};
use crate::autoencoder::Trained;
use crate::backend::{Precision, libtorch_version};
use crate::error::Result;
use crate::io::{utc_date, write_bytes_atomic};
use crate::stats::{ConfidenceInterval, auroc};
use crate::study::{
    ClaimCheck, ClaimTable, Context, Evaluation, Evidence, METRICS_FILE, MeasuredAt, ModelScores,
    Profile, Report, ReproduceOutcome, SectionTime, Verdict, check, cpuinfo, dataset_counts,
    over_seeds, report_claims,
};
use crate::training::git_commit;

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

/// When, how and where a run was made: what a reader needs to judge
/// whether another run should match it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The day this invocation started, UTC, `YYYY-MM-DD`.
    pub date: String,
    /// The command line, where a command asked for the run.
    pub command: Option<String>,
    pub crate_version: String,
    /// `git describe --always --dirty` of the checkout as the run started.
    pub git_commit: String,
    pub libtorch_version: String,
    /// The CPU's model name (`/proc/cpuinfo`), empty where unknown.
    pub cpu: String,
    /// Which of the instruction sets libtorch's CPU kernels choose between
    /// the CPU has (AVX2, AVX512F, AVX512_BF16, AMX): two runs on CPUs that
    /// differ here may round differently.
    pub cpu_features: Vec<String>,
    /// Threads available to this process.
    pub threads: usize,
}

impl Provenance {
    /// This process, now.
    pub fn now(command: Option<String>) -> Self {
        let flags = cpuinfo("flags").unwrap_or_default();
        let flags: Vec<&str> = flags.split_whitespace().collect();
        Self {
            date: utc_date(std::time::SystemTime::now()),
            command,
            crate_version: env!("CARGO_PKG_VERSION").into(),
            git_commit: git_commit(),
            libtorch_version: libtorch_version().into(),
            cpu: cpuinfo("model name").unwrap_or_default(),
            cpu_features: [
                ("avx2", "AVX2"),
                ("avx512f", "AVX512F"),
                ("avx512_bf16", "AVX512_BF16"),
                ("amx_bf16", "AMX"),
            ]
            .into_iter()
            .filter(|(flag, _)| flags.contains(flag))
            .map(|(_, name)| name.to_string())
            .collect(),
            threads: rayon::current_num_threads(),
        }
    }
}

/// `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// When, how and on what this run was made.
    pub provenance: Provenance,
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
    /// What each family on the ladder records of its fit, merged
    /// (`crate::scoring::merged_facts`): by default `feature_size` and
    /// `feature_seconds` (Lite0's bank), `banks` (every backbone's: size,
    /// images, seconds), `classifier_size`,
    /// `classifier_validation_accuracy` and `classifier_train_seconds`.
    #[serde(flatten)]
    pub families: serde_json::Map<String, serde_json::Value>,
    pub ladder: Vec<LadderRow>,
    /// The detector every gain is measured against.
    pub reference: String,
}

/// The report's claims beside this study's values (`tables/claims.csv`),
/// as the section that opens `report.md`: graded on the runs of each
/// training seed (`runs[s]`, trained at `seeds[s]`; the first seed's
/// baseline is `baseline`, its AUROC `evaluation`'s), the first seed's
/// verdicts with every claim's verdicts over the seeds.
pub(crate) fn claims_section(
    cx: &mut Context,
    baseline: &Trained,
    evaluation: &Evaluation,
    (runs, seeds): (&[Vec<Trained>], &[u64]),
) -> Result<ClaimTable> {
    let measured_at = MeasuredAt::of(cx.study.profile, &cx.prepared);
    let dataset = dataset_counts(&cx.study.config.data_dir)?;
    let bootstrap = cx.config.bootstrap;
    let evidence = |seed: usize| -> Result<Evidence> {
        let main = if seed == 0 { baseline } else { &runs[seed][0] };
        let scores = &main.scores;
        let auroc = match seed {
            0 => evaluation.auroc,
            _ => bootstrap.interval(&scores.scores(), &scores.held_out_flags(), auroc)?,
        };
        Ok(Evidence {
            dataset: Some(dataset),
            baseline: Some(scores.0.clone()),
            baseline_auroc: Some(auroc),
            models: runs[seed].iter().map(ModelScores::of).collect(),
            ..Evidence::at(measured_at, bootstrap)
        })
    };
    let claims = report_claims()?;
    let tables = (0..runs.len())
        .map(|seed| check(&claims, &evidence(seed)?))
        .collect::<Result<Vec<_>>>()?;
    let claims = over_seeds(seeds, tables)?;
    let df = cx.study.table("claims", claims.to_dataframe()?)?;
    let mut section = Report::default();
    section.heading(2, "Reproducibility: the report's claims beside ours");
    section.text(format!(
        "Every numeric claim of the original report (`docs/report_claims.csv`) beside this \
         run's value for the same quantity, measured at profile **{}**: {} reproduced, {} not \
         reproduced, {} not comparable at this profile, {} not measured; and on {} of them the \
         report contradicts itself (`report_consistency`), which is stated beside the verdict, \
         not in its place. A rate is compared through our Wilson 95% interval, a statistic \
         through our bootstrap 95% interval; `assumption` says what a comparison assumes that \
         the report does not say, `power` what the comparison can resolve.",
        cx.study.profile.name(),
        claims.count(Verdict::Reproduced),
        claims.count(Verdict::NotReproduced),
        claims.count(Verdict::NotComparable),
        claims.count(Verdict::NotMeasured),
        claims.contradictions(),
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

pub(crate) fn baseline_metrics(
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
pub(crate) fn write_outputs(mut cx: Context, metrics: Metrics) -> Result<ReproduceOutcome> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_names_the_build_and_the_machine() {
        let p = Provenance::now(Some("caltech-anomaly reproduce".into()));
        assert_eq!(p.crate_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(p.date.len(), 10, "{}", p.date);
        assert!(p.threads >= 1);
        assert!(!p.libtorch_version.is_empty());
    }
}
