//! Report section 8: comparing models trained on the same split and seed.
//!
//! The report ranks its models by an undefined "accuracy"; here every column
//! is defined: mean test error, AUROC and AUPRC of the error for the
//! held-out class (with a seeded, stratified bootstrap 95 % interval for
//! AUROC), and the true- and false-positive rates at the report's p80
//! threshold (the 80th percentile of the test errors).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detect::detection_table;
use crate::error::{Error, Result};
use crate::evaluate::{ConfidenceInterval, auprc, auroc, bootstrap_ci};
use crate::run::read_record;
use crate::score::{SCORES_FILE, read_scores};

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
