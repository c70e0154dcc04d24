//! Report section 8: comparing models trained on the same split and seed.
//!
//! The report ranks its models by an undefined "accuracy"; here every column
//! is defined: mean test error, AUROC and AUPRC of the error for the
//! held-out class (with a seeded, stratified bootstrap 95 % interval for
//! AUROC), and the true- and false-positive rates at the report's p80
//! threshold (the 80th percentile of the test errors).
//!
//! With 30 anomalies in the test split, every AUROC interval is about ±0.1
//! wide. [`compare_unseen`] measures the same models on every image outside
//! the 30-per-class pool (`score --unseen`: 437 anomalies, 5,647 object
//! images) and gives each model's AUROC gain over the one before with a
//! paired bootstrap interval: that is what says whether a step is real.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detect::detection_table;
use crate::error::{Error, Result};
use crate::evaluate::{ConfidenceInterval, auprc, auroc, bootstrap_ci, paired_bootstrap_delta};
use crate::run::read_record;
use crate::score::{
    SCORES_FILE, UNSEEN_SCORES_FILE, has_current_unseen_scores, read_scores, read_unseen_scores,
};

/// Bootstrap resamples behind each AUROC interval.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// One model's line of the comparison table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonRow {
    pub run: PathBuf,
    pub model: String,
    pub parameters: usize,
    pub train_seconds: f64,
    pub mean_test_error: f64,
    pub auroc: ConfidenceInterval,
    pub auprc: f64,
    /// Held-out images flagged above the p80 test threshold.
    pub tpr_p80: f64,
    /// Object images flagged above the p80 test threshold.
    pub fpr_p80: f64,
}

/// Compares finished runs from their `run.json` and `scores.csv`.
pub fn compare_runs(runs: &[PathBuf], seed: u64) -> Result<Vec<ComparisonRow>> {
    if runs.is_empty() {
        return Err(Error::InvalidParameter("no run to compare".into()));
    }
    runs.iter().map(|run| compare_one(run, seed)).collect()
}

fn compare_one(run: &Path, seed: u64) -> Result<ComparisonRow> {
    let record = read_record(run)?;
    let scores = read_scores(&run.join(SCORES_FILE))?;
    let errors: Vec<f64> = scores.iter().map(|r| r.error).collect();
    let held_out: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
    let p80 = detection_table(&scores, None, &[80.0])?;
    Ok(ComparisonRow {
        run: run.to_path_buf(),
        model: record.architecture.to_string(),
        parameters: record.parameters,
        train_seconds: record.timings.train_s,
        mean_test_error: errors.iter().sum::<f64>() / errors.len().max(1) as f64,
        auroc: bootstrap_ci(&errors, &held_out, auroc, BOOTSTRAP_RESAMPLES, seed, 0.95)?,
        auprc: auprc(&errors, &held_out),
        tpr_p80: p80[0].tpr,
        fpr_p80: p80[0].achieved_fpr,
    })
}

/// The comparison as a Markdown table.
pub struct ComparisonTable<'a>(pub &'a [ComparisonRow]);

impl fmt::Display for ComparisonTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| model | parameters | training (s) | mean test error | AUROC [95% CI] | AUPRC | TPR @p80 | FPR @p80 |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---|---:|---:|---:|")?;
        for r in self.0 {
            writeln!(
                f,
                "| {} | {} | {:.0} | {:.5} | {:.3} [{:.3}, {:.3}] | {:.3} | {:.3} | {:.3} |",
                r.model,
                r.parameters,
                r.train_seconds,
                r.mean_test_error,
                r.auroc.estimate,
                r.auroc.low,
                r.auroc.high,
                r.auprc,
                r.tpr_p80,
                r.fpr_p80
            )?;
        }
        Ok(())
    }
}

/// One model's line of the comparison on unseen images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnseenComparisonRow {
    pub run: PathBuf,
    pub model: String,
    pub images: usize,
    pub anomalies: usize,
    pub mean_error: f64,
    pub auroc: ConfidenceInterval,
    /// AUROC minus the previous run's, with a paired bootstrap interval;
    /// `None` for the first run.
    pub auroc_gain: Option<ConfidenceInterval>,
}

/// Compares finished runs on their `unseen_scores.csv` (written by `score
/// --unseen`), in the order given: each row's gain is over the row before
/// (`resamples` bootstrap resamples behind each interval).
/// Errors if a run lacks the file (or it predates the run's model) or the
/// runs scored different images.
pub fn compare_unseen(
    runs: &[PathBuf],
    resamples: usize,
    seed: u64,
) -> Result<Vec<UnseenComparisonRow>> {
    let mut rows: Vec<UnseenComparisonRow> = Vec::with_capacity(runs.len());
    let mut previous: Option<(Vec<String>, Vec<f64>)> = None;
    for run in runs {
        let record = read_record(run)?;
        let path = run.join(UNSEEN_SCORES_FILE);
        if !has_current_unseen_scores(run) {
            return Err(Error::InvalidParameter(format!(
                "{} is missing or older than the model: run `caltech-anomaly score --run {} --unseen`",
                path.display(),
                run.display()
            )));
        }
        let scores = read_unseen_scores(&path)?;
        let paths: Vec<String> = scores.iter().map(|r| r.path.clone()).collect();
        let errors: Vec<f64> = scores.iter().map(|r| r.error).collect();
        let held_out: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
        let auroc_gain = match &previous {
            None => None,
            Some((previous_paths, _)) if *previous_paths != paths => {
                return Err(Error::InvalidParameter(format!(
                    "{} scored other images than the run before it: compare runs of one pool",
                    path.display()
                )));
            }
            Some((_, previous_errors)) => Some(paired_bootstrap_delta(
                previous_errors,
                &errors,
                &held_out,
                auroc,
                resamples,
                seed,
                0.95,
            )?),
        };
        rows.push(UnseenComparisonRow {
            run: run.clone(),
            model: record.architecture.to_string(),
            images: errors.len(),
            anomalies: held_out.iter().filter(|&&h| h).count(),
            mean_error: errors.iter().sum::<f64>() / errors.len().max(1) as f64,
            auroc: bootstrap_ci(&errors, &held_out, auroc, resamples, seed, 0.95)?,
            auroc_gain,
        });
        previous = Some((paths, errors));
    }
    Ok(rows)
}

/// The comparison on unseen images as a Markdown table.
pub struct UnseenComparisonTable<'a>(pub &'a [UnseenComparisonRow]);

impl fmt::Display for UnseenComparisonTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| model | images (anomalies) | mean error | AUROC [95% CI] | gain over the row above [95% paired CI] |"
        )?;
        writeln!(f, "|---|---:|---:|---|---|")?;
        for r in self.0 {
            let gain = r.auroc_gain.map_or_else(String::new, |g| {
                format!("{:+.4} [{:+.4}, {:+.4}]", g.estimate, g.low, g.high)
            });
            writeln!(
                f,
                "| {} | {} ({}) | {:.5} | {:.4} [{:.4}, {:.4}] | {gain} |",
                r.model,
                r.images,
                r.anomalies,
                r.mean_error,
                r.auroc.estimate,
                r.auroc.low,
                r.auroc.high,
            )?;
        }
        Ok(())
    }
}
