//! A published results folder (`docs/results/<profile>/`) as the pages
//! read it: the facts of its run from `metrics.json` and the rows of its
//! `tables/*.csv`, each through the crate's readers, so errors name the
//! file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::analysis::UnseenComparisonRow;
use crate::error::{IoContext, Result};
use crate::io::{read_csv, read_json};
use crate::stats::ConfidenceInterval;
use crate::study::{METRICS_FILE, SeedVerdicts};

/// The folder of a results folder's tables.
pub(super) const TABLES: &str = "tables";
/// The folder of a results folder's figures.
pub(super) const FIGURES: &str = "figures";

/// What `metrics.json` says about the run that wrote the folder. Fields a
/// run did not record stay `None` and the pages leave them out.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct RunFacts {
    pub(super) profile: String,
    pub(super) profile_reason: Option<String>,
    pub(super) device: Option<String>,
    pub(super) precision: Option<String>,
    pub(super) precision_reason: Option<String>,
    pub(super) seed: Option<u64>,
    /// Each model's numbers over the training seeds, where recorded: how
    /// many seeds trained it.
    #[serde(default)]
    refinement_over_seeds: Vec<SeedCount>,
    /// When, how and on what the run was made, where `metrics.json`
    /// records it.
    pub(super) provenance: Option<ProvenanceFacts>,
    pub(super) baseline: Option<BaselineFacts>,
    pub(super) beyond_reconstruction: Option<BeyondFacts>,
    #[serde(default)]
    pub(super) sections: Vec<StepTime>,
}

impl RunFacts {
    /// The run's command line: as recorded, or else `reproduce` (which
    /// writes `metrics.json`) with the options the record says were
    /// requested.
    pub(super) fn command(&self) -> String {
        if let Some(command) = self.provenance.as_ref().and_then(|p| p.command.clone()) {
            return command;
        }
        let requested = |reason: &Option<String>| reason.as_deref() == Some("requested");
        let mut command = String::from("caltech-anomaly reproduce");
        if requested(&self.profile_reason) {
            command.push_str(&format!(" --profile {}", self.profile));
        }
        if let (true, Some(precision)) = (requested(&self.precision_reason), &self.precision) {
            command.push_str(&format!(" --precision {precision}"));
        }
        command
    }

    /// One line: the date where recorded, the command, device, precision,
    /// seed and, where recorded, the CPU and the commit.
    pub(super) fn summary(&self) -> String {
        let provenance = self.provenance.as_ref();
        let mut parts = Vec::new();
        parts.extend(provenance.map(|p| p.date.clone()));
        parts.push(format!("`{}`", self.command()));
        parts.extend(self.device.as_ref().map(|d| format!("device {d}")));
        parts.extend(self.precision.as_ref().map(|p| format!("precision {p}")));
        parts.extend(self.seed.map(|s| self.seeds_from(s)));
        parts.extend(provenance.map(ProvenanceFacts::machine));
        parts.extend(provenance.map(|p| format!("commit `{}`", p.git_commit)));
        parts.join(", ")
    }

    /// The split's seed `first`, also the first training seed, and the
    /// training seeds after it: `seed 42` or `seeds 42-44`.
    fn seeds_from(&self, first: u64) -> String {
        let seeds = self.refinement_over_seeds.iter().map(|m| m.seeds).max();
        match seeds.unwrap_or(1) as u64 {
            0 | 1 => format!("seed {first}"),
            n => format!("seeds {first}-{}", first + n - 1),
        }
    }
}

/// How many seeds trained a model (`metrics.json`'s
/// `refinement_over_seeds`).
#[derive(Debug, Clone, Deserialize)]
struct SeedCount {
    seeds: usize,
}

/// `metrics.json`'s `provenance`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ProvenanceFacts {
    pub(super) date: String,
    pub(super) command: Option<String>,
    pub(super) git_commit: String,
    pub(super) cpu: String,
    pub(super) cpu_features: Vec<String>,
    pub(super) threads: usize,
}

impl ProvenanceFacts {
    /// The CPU, its instruction sets that libtorch chooses kernels by, and
    /// the threads used.
    fn machine(&self) -> String {
        let features = if self.cpu_features.is_empty() {
            "none of AVX2, AVX512F, AVX512_BF16, AMX".to_string()
        } else {
            self.cpu_features.join(", ")
        };
        format!("{} ({features}), {} threads", self.cpu, self.threads)
    }
}

/// The baseline's training, from `metrics.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct BaselineFacts {
    pub(super) epochs_run: usize,
    pub(super) best_epoch: usize,
}

/// Section 9's facts beside its ladder, from `metrics.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct BeyondFacts {
    /// The detector every gain is measured against.
    pub(super) reference: String,
    pub(super) classifier_validation_accuracy: Option<f64>,
    #[serde(default)]
    pub(super) banks: Vec<FeatureBank>,
}

/// A backbone's feature bank of every image.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct FeatureBank {
    pub(super) backbone: String,
    pub(super) size: usize,
    pub(super) images: usize,
    pub(super) seconds: f64,
}

/// The wall time of one step of the run's process.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct StepTime {
    pub(super) section: String,
    pub(super) seconds: f64,
}

/// A row of `claims.csv`. The columns beside the verdict (the report's
/// consistency, the assumption, the power of the test) are missing from a
/// file written before they were separate, whose verdict may then be
/// [`LEGACY_INCONSISTENT`](crate::study::LEGACY_INCONSISTENT) in place of
/// the comparison's.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ClaimRow {
    pub(super) section: u8,
    pub(super) claim: String,
    pub(super) report: String,
    pub(super) ours: String,
    pub(super) low: Option<f64>,
    pub(super) high: Option<f64>,
    pub(super) verdict: String,
    /// `no contradiction found`, or `contradicts itself: ` and why.
    #[serde(default)]
    pub(super) report_consistency: Option<String>,
    #[serde(default)]
    pub(super) assumption: Option<String>,
    #[serde(default)]
    pub(super) power: Option<String>,
    /// The verdict at each training seed (`one seed: …`, `settled: …`,
    /// `flips: …`), where the run recorded it.
    #[serde(default)]
    pub(super) seeds: Option<String>,
}

impl ClaimRow {
    /// The verdicts over the seeds where the run trained more than one.
    pub(super) fn over_seeds(&self) -> Option<&str> {
        self.seeds.as_deref().filter(|s| !s.starts_with("one seed"))
    }

    /// Whether the verdict differs between the run's training seeds.
    pub(super) fn flips(&self) -> bool {
        let parsed = self.seeds.as_deref().map(str::parse::<SeedVerdicts>);
        parsed.is_some_and(|v| v.is_ok_and(|v| !v.settled()))
    }

    /// Why the report contradicts itself on this claim, where the file
    /// says so in its own column.
    pub(super) fn contradiction(&self) -> Option<&str> {
        self.report_consistency
            .as_deref()
            .and_then(|c| c.strip_prefix(crate::study::CONTRADICTS_ITSELF))
    }
}

impl Published {
    /// Whether the folder's `claims.csv` states the report's consistency
    /// beside each verdict (the layout that does).
    pub(super) fn has_consistency(&self) -> bool {
        self.claims.iter().any(|c| c.report_consistency.is_some())
    }
}

/// A row of `comparison.csv`: a model on the test split.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ModelRow {
    pub(super) model: String,
    pub(super) parameters: u64,
    pub(super) train_seconds: f64,
    pub(super) mean_test_error: f64,
    pub(super) auroc: f64,
    pub(super) auroc_low: f64,
    pub(super) auroc_high: f64,
    pub(super) auprc: f64,
    pub(super) percentile: f64,
    pub(super) tpr: f64,
    pub(super) fpr: f64,
}

/// A row of `comparison_unseen.csv`, `resize_ablation.csv` or
/// `precision_guard.csv`: a model on every unseen image, with its paired
/// AUROC gain over the row before where it has one.
#[derive(Debug, Clone, Deserialize)]
struct UnseenCsvRow {
    model: String,
    images: usize,
    anomalies: usize,
    mean_error: f64,
    auroc: f64,
    auroc_low: f64,
    auroc_high: f64,
    auroc_gain: Option<f64>,
    auroc_gain_low: Option<f64>,
    auroc_gain_high: Option<f64>,
}

impl From<UnseenCsvRow> for UnseenComparisonRow {
    fn from(row: UnseenCsvRow) -> Self {
        let gain = match (row.auroc_gain, row.auroc_gain_low, row.auroc_gain_high) {
            (Some(estimate), Some(low), Some(high)) => Some(ConfidenceInterval {
                estimate,
                low,
                high,
            }),
            _ => None,
        };
        UnseenComparisonRow {
            run: PathBuf::new(),
            model: row.model,
            images: row.images,
            anomalies: row.anomalies,
            mean_error: row.mean_error,
            auroc: interval(row.auroc, row.auroc_low, row.auroc_high),
            auroc_gain: gain,
        }
    }
}

fn interval(estimate: f64, low: f64, high: f64) -> ConfidenceInterval {
    ConfidenceInterval {
        estimate,
        low,
        high,
    }
}

/// A row of `thresholds.csv`: one percentile from one source.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ThresholdRow {
    pub(super) percentile: f64,
    pub(super) source: String,
    pub(super) threshold: f64,
    pub(super) flagged: usize,
    pub(super) clean_flagged: usize,
    pub(super) held_out_flagged: usize,
    pub(super) clean_total: usize,
    pub(super) held_out_total: usize,
    pub(super) expected_fpr: f64,
    pub(super) achieved_fpr: f64,
    pub(super) tpr: f64,
}

/// A row of `score_aggregation.csv` or `trivial_baselines.csv`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ScoreRow {
    pub(super) score: String,
    pub(super) auroc: f64,
    pub(super) auroc_low: f64,
    pub(super) auroc_high: f64,
    pub(super) auprc: f64,
}

/// A row of `ladder.csv`; the columns a ladder of an older run lacks stay
/// `None`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct LadderCsvRow {
    pub(super) detector: String,
    pub(super) pretrained: bool,
    pub(super) test_auroc: f64,
    pub(super) test_auroc_low: f64,
    pub(super) test_auroc_high: f64,
    pub(super) unseen_auroc: Option<f64>,
    pub(super) unseen_auroc_low: Option<f64>,
    pub(super) unseen_auroc_high: Option<f64>,
    pub(super) gain: Option<f64>,
    pub(super) gain_low: Option<f64>,
    pub(super) gain_high: Option<f64>,
    #[serde(default)]
    pub(super) gain_second: Option<f64>,
    #[serde(default)]
    pub(super) gain_second_low: Option<f64>,
    #[serde(default)]
    pub(super) gain_second_high: Option<f64>,
    pub(super) percentile: f64,
    pub(super) tp: usize,
    #[serde(rename = "fn")]
    pub(super) false_negatives: usize,
    pub(super) fp: usize,
    pub(super) tn: usize,
    pub(super) seconds: f64,
    #[serde(default)]
    pub(super) bank_mib: Option<f64>,
}

/// A row of `ladder_false_positives.csv`: an object class a detector flags
/// at the ladder's percentile.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct FalsePositiveRow {
    pub(super) detector: String,
    pub(super) class: String,
    pub(super) flagged: usize,
    pub(super) images: usize,
}

/// A row of `split_sizes.csv`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct SplitRow {
    pub(super) split: String,
    pub(super) images: usize,
    #[serde(rename = "held out (background_google)")]
    pub(super) held_out: usize,
}

/// Everything the pages show of one published results folder.
#[derive(Debug, Clone)]
pub(super) struct Published {
    /// The folder's name under `docs/results/` (the profile).
    pub(super) name: String,
    /// The folder itself.
    pub(super) dir: PathBuf,
    pub(super) facts: RunFacts,
    pub(super) claims: Vec<ClaimRow>,
    pub(super) models: Vec<ModelRow>,
    pub(super) unseen: Vec<UnseenComparisonRow>,
    pub(super) thresholds: Vec<ThresholdRow>,
    pub(super) aggregation: Vec<ScoreRow>,
    pub(super) trivial: Vec<ScoreRow>,
    pub(super) ladder: Vec<LadderCsvRow>,
    pub(super) false_positives: Vec<FalsePositiveRow>,
    pub(super) splits: Vec<SplitRow>,
    /// `resize_ablation.csv`, where the run has one.
    pub(super) resize: Option<Vec<UnseenComparisonRow>>,
    /// `precision_guard.csv`, where the folder has one.
    pub(super) guard: Option<Vec<UnseenComparisonRow>>,
    /// `comparison_seeds.csv`, where the run trained more than one seed.
    pub(super) seeds: Option<Vec<SeedRow>>,
    /// The names of the CSV files in `tables/`, sorted.
    pub(super) table_files: Vec<String>,
    /// The names of the files in `figures/`, sorted.
    pub(super) figure_files: Vec<String>,
}

/// A row of `comparison_seeds.csv`: a model's mean and standard deviation
/// over the training seeds.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct SeedRow {
    pub(super) model: String,
    pub(super) seeds: usize,
    pub(super) mean_test_error: f64,
    pub(super) mean_test_error_std: f64,
    pub(super) auroc: f64,
    pub(super) auroc_std: f64,
    pub(super) auprc: f64,
    pub(super) auprc_std: f64,
    pub(super) tpr: f64,
    pub(super) tpr_std: f64,
    pub(super) fpr: f64,
    pub(super) fpr_std: f64,
}

impl Published {
    /// Reads `results/<name>/` (its `metrics.json` and tables).
    pub(super) fn read(results: &Path, name: &str) -> Result<Self> {
        let dir = results.join(name);
        let tables = dir.join(TABLES);
        let table = |file: &str| tables.join(file);
        Ok(Self {
            name: name.to_string(),
            dir: dir.clone(),
            facts: read_json(&dir.join(METRICS_FILE))?,
            claims: read_csv(&table("claims.csv"))?,
            models: read_csv(&table("comparison.csv"))?,
            unseen: read_unseen(&table("comparison_unseen.csv"))?,
            thresholds: read_csv(&table("thresholds.csv"))?,
            aggregation: read_csv(&table("score_aggregation.csv"))?,
            trivial: read_csv(&table("trivial_baselines.csv"))?,
            ladder: read_csv(&table("ladder.csv"))?,
            false_positives: read_csv(&table("ladder_false_positives.csv"))?,
            splits: read_csv(&table("split_sizes.csv"))?,
            resize: read_optional(&table("resize_ablation.csv"))?,
            guard: read_optional(&table("precision_guard.csv"))?,
            seeds: match table("comparison_seeds.csv") {
                path if path.exists() => Some(read_csv(&path)?),
                _ => None,
            },
            table_files: file_names(&tables)?,
            figure_files: file_names(&dir.join(FIGURES))?,
        })
    }

    /// The path of `file` in this folder, relative to `docs/`.
    pub(super) fn link(&self, sub: &str, file: &str) -> String {
        format!("results/{}/{sub}/{file}", self.name)
    }

    /// Whether `figures/` holds `file`.
    pub(super) fn has_figure(&self, file: &str) -> bool {
        self.figure_files.iter().any(|f| f == file)
    }
}

fn read_unseen(path: &Path) -> Result<Vec<UnseenComparisonRow>> {
    let rows: Vec<UnseenCsvRow> = read_csv(path)?;
    Ok(rows.into_iter().map(UnseenComparisonRow::from).collect())
}

fn read_optional(path: &Path) -> Result<Option<Vec<UnseenComparisonRow>>> {
    if path.exists() {
        read_unseen(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The names of the regular files in `dir`, sorted; none when it is
/// missing.
fn file_names(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if path.is_file() {
            names.extend(path.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    names.sort();
    Ok(names)
}
