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

use burn::tensor::Device;
use polars::prelude::{DataFrame, PolarsResult};
use serde::{Deserialize, Serialize};

use crate::analysis::{Bootstrap, detection_table};
use crate::autoencoder::{ErrorMap, RunRecord, Trained, error_maps, read_record};
use crate::data::{Prepared, Split};
use crate::error::{Error, Result};
use crate::io::column;
use crate::scoring::{
    SCORES_FILE, Scores, UNSEEN_SCORES_FILE, UnseenRow, has_current_unseen_scores, read_scores,
    read_unseen_scores,
};
use crate::stats::{ConfidenceInterval, auprc, auroc, bootstrap_ci, paired_bootstrap_delta};

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
    /// The operating point: the percentile of the test errors flagged above.
    pub percentile: f64,
    /// Held-out images flagged at the operating point.
    pub tpr: f64,
    /// Object images flagged at the operating point.
    pub fpr: f64,
}

impl ComparisonRow {
    /// The row of a run with its record and test scores.
    pub fn of(
        run: &Path,
        record: &RunRecord,
        scores: &Scores,
        percentile: f64,
        bootstrap: Bootstrap,
    ) -> Result<Self> {
        let (errors, held_out) = (scores.scores(), scores.held_out_flags());
        let point = &detection_table(scores, None, &[percentile])?[0];
        Ok(Self {
            run: run.to_path_buf(),
            model: record.architecture.to_string(),
            parameters: record.parameters,
            train_seconds: record.timings.train_s,
            mean_test_error: scores.mean_error(),
            auroc: bootstrap.interval(&errors, &held_out, auroc)?,
            auprc: auprc(&errors, &held_out),
            percentile,
            tpr: point.tpr,
            fpr: point.achieved_fpr,
        })
    }
}

/// Compares finished runs from their `run.json` and `scores.csv`, at the
/// `percentile`-th test percentile.
pub fn compare_runs(
    runs: &[PathBuf],
    percentile: f64,
    bootstrap: Bootstrap,
) -> Result<Vec<ComparisonRow>> {
    if runs.is_empty() {
        return Err(Error::InvalidParameter("no run to compare".into()));
    }
    runs.iter()
        .map(|run| {
            let record = read_record(run)?;
            let scores = read_scores(&run.join(SCORES_FILE))?;
            ComparisonRow::of(run, &record, &scores, percentile, bootstrap)
        })
        .collect()
}

/// The comparison as a Markdown table.
pub struct ComparisonTable<'a>(pub &'a [ComparisonRow]);

impl fmt::Display for ComparisonTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| model | parameters | training (s) | mean test error | AUROC [95% CI] | AUPRC | percentile | TPR | FPR |"
        )?;
        writeln!(f, "|---|---:|---:|---:|---|---:|---:|---:|---:|")?;
        for r in self.0 {
            writeln!(
                f,
                "| {} | {} | {:.0} | {:.5} | {:.3} [{:.3}, {:.3}] | {:.3} | p{} | {:.3} | {:.3} |",
                r.model,
                r.parameters,
                r.train_seconds,
                r.mean_test_error,
                r.auroc.estimate,
                r.auroc.low,
                r.auroc.high,
                r.auprc,
                r.percentile,
                r.tpr,
                r.fpr
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
/// --unseen`), in the order given: each row's gain is over the row before.
/// Errors if a run lacks the file (or it predates the run's model) or the
/// runs scored different images.
pub fn compare_unseen(runs: &[PathBuf], bootstrap: Bootstrap) -> Result<Vec<UnseenComparisonRow>> {
    let mut scored = Vec::with_capacity(runs.len());
    for run in runs {
        let record = read_record(run)?;
        let path = run.join(UNSEEN_SCORES_FILE);
        if !has_current_unseen_scores(run) {
            return Err(Error::UnseenScoresMissing {
                path,
                run: run.clone(),
            });
        }
        let rows = read_unseen_scores(&path)?;
        scored.push((run.clone(), record.architecture.to_string(), rows));
    }
    compare_scored(&scored, bootstrap)
}

/// [`compare_unseen`] for runs in memory: `unseen[i]` holds `runs[i]`'s
/// scores (from [`crate::autoencoder::unseen_scores`]).
pub fn unseen_comparison(
    runs: &[Trained],
    unseen: &[Vec<UnseenRow>],
    bootstrap: Bootstrap,
) -> Result<Vec<UnseenComparisonRow>> {
    if runs.len() != unseen.len() {
        return Err(Error::InvalidParameter(format!(
            "{} runs but {} sets of unseen scores",
            runs.len(),
            unseen.len()
        )));
    }
    let scored: Vec<_> = runs
        .iter()
        .zip(unseen)
        .map(|(run, rows)| {
            (
                run.dir.clone(),
                run.record.architecture.to_string(),
                rows.clone(),
            )
        })
        .collect();
    compare_scored(&scored, bootstrap)
}

/// The resize ablation: model `i` trained on TF's resize (`tf[i]`, with
/// its unseen scores) and on the antialiased one (`antialiased[i]`), on the
/// same images; the second row of each pair carries the paired AUROC
/// difference (antialiased minus TF).
pub fn resize_ablation(
    tf: &[(&Trained, &[UnseenRow])],
    antialiased: &[(&Trained, &[UnseenRow])],
    bootstrap: Bootstrap,
) -> Result<Vec<UnseenComparisonRow>> {
    paired_ablation(tf, antialiased, bootstrap, |r| {
        format!("{}, {} resize", r.architecture, r.resize)
    })
}

/// Mixed precision's quality guard: model `i` trained in fp32 (`fp32[i]`)
/// and in bf16 (`bf16[i]`) on the same split and seed, scored on the same
/// unseen images; the second row of each pair carries the paired AUROC
/// difference (bf16 minus fp32).
pub fn precision_ablation(
    fp32: &[(&Trained, &[UnseenRow])],
    bf16: &[(&Trained, &[UnseenRow])],
    bootstrap: Bootstrap,
) -> Result<Vec<UnseenComparisonRow>> {
    paired_ablation(fp32, bf16, bootstrap, |r| {
        format!("{}, {}", r.architecture, r.precision)
    })
}

/// Pairs of runs of one model that differ in one setting (`a[i]` against
/// `b[i]`), each labelled by `label`: the second row of each pair carries
/// the paired AUROC difference (b minus a).
fn paired_ablation(
    a: &[(&Trained, &[UnseenRow])],
    b: &[(&Trained, &[UnseenRow])],
    bootstrap: Bootstrap,
    label: impl Fn(&RunRecord) -> String,
) -> Result<Vec<UnseenComparisonRow>> {
    if a.len() != b.len() {
        return Err(Error::InvalidParameter(format!(
            "{} runs against {} of the other setting",
            a.len(),
            b.len()
        )));
    }
    let scored = |(run, rows): &(&Trained, &[UnseenRow])| {
        (run.dir.clone(), label(&run.record), rows.to_vec())
    };
    let mut rows = Vec::with_capacity(2 * a.len());
    for (x, y) in a.iter().zip(b) {
        rows.extend(compare_scored(&[scored(x), scored(y)], bootstrap)?);
    }
    Ok(rows)
}

/// Each (run, model, unseen scores) with its AUROC and its paired gain over
/// the one before.
fn compare_scored(
    scored: &[(PathBuf, String, Vec<UnseenRow>)],
    bootstrap: Bootstrap,
) -> Result<Vec<UnseenComparisonRow>> {
    let Bootstrap { resamples, seed } = bootstrap;
    let mut rows: Vec<UnseenComparisonRow> = Vec::with_capacity(scored.len());
    let mut previous: Option<(Vec<&str>, Vec<f64>)> = None;
    for (run, model, scores) in scored {
        let paths: Vec<&str> = scores.iter().map(|r| r.path.as_str()).collect();
        let errors: Vec<f64> = scores.iter().map(|r| r.score).collect();
        let held_out: Vec<bool> = scores.iter().map(|r| r.held_out).collect();
        let auroc_gain = match &previous {
            None => None,
            Some((previous_paths, _)) if *previous_paths != paths => {
                return Err(Error::InvalidParameter(format!(
                    "{} scored other images than the run before it: compare runs of one pool",
                    run.display()
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
            model: model.clone(),
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

/// Section 8: the models on the same split, for each seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refinement {
    /// One row per model at the first seed.
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
    pub tpr: MeanStd,
    pub fpr: MeanStd,
}

/// Compares `runs[s][m]`, model `m` trained at seed `s` (every seed the
/// same models in the same order, on one split), at the `percentile`-th
/// test percentile.
pub fn refinement(
    runs: &[Vec<Trained>],
    percentile: f64,
    bootstrap: Bootstrap,
) -> Result<Refinement> {
    let models = runs.first().map_or(0, Vec::len);
    if models == 0 || runs.iter().any(|seed| seed.len() != models) {
        return Err(Error::InvalidParameter(
            "every seed needs the same, non-empty list of models".into(),
        ));
    }
    let mut per_seed = Vec::with_capacity(runs.len());
    for seed_runs in runs {
        let rows = seed_runs
            .iter()
            .map(|t| ComparisonRow::of(&t.dir, &t.record, &t.scores, percentile, bootstrap))
            .collect::<Result<Vec<_>>>()?;
        per_seed.push(rows);
    }
    let over_seeds = (0..models)
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
                tpr: of(|r| r.tpr),
                fpr: of(|r| r.fpr),
            }
        })
        .collect();
    Ok(Refinement {
        rows: per_seed.swap_remove(0),
        over_seeds,
    })
}

/// The same test images reconstructed by every run: the first `n / 2`
/// normal and the first `n / 2` held-out test images. Returns their test
/// positions and, per run, their error maps.
pub fn same_images(
    runs: &[Trained],
    prepared: &Prepared,
    n: usize,
    device: &Device,
) -> Result<(Vec<usize>, Vec<Vec<ErrorMap>>)> {
    let scores = &runs
        .first()
        .ok_or_else(|| Error::InvalidParameter("no run to show".into()))?
        .scores;
    let half = (n / 2).max(1);
    let chosen: Vec<usize> = (0..scores.len())
        .filter(|&i| !scores[i].held_out)
        .take(half)
        .chain((0..scores.len()).filter(|&i| scores[i].held_out).take(half))
        .collect();
    let test = prepared.manifest.indices(Split::Test);
    let rows: Vec<usize> = chosen.iter().map(|&i| test[i]).collect();
    let maps = runs
        .iter()
        .map(|run| error_maps(&run.model, &prepared.cache, &rows, device))
        .collect();
    Ok((chosen, maps))
}

/// The AUROC of unseen-image scores with its interval.
pub fn unseen_auroc(rows: &[UnseenRow], bootstrap: Bootstrap) -> Result<ConfidenceInterval> {
    let errors: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let held_out: Vec<bool> = rows.iter().map(|r| r.held_out).collect();
    bootstrap.interval(&errors, &held_out, auroc)
}

/// The comparison as a table.
pub fn comparison_table(rows: &[ComparisonRow]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("model", rows, |r| r.model.as_str()),
        column("parameters", rows, |r| r.parameters as u64),
        column("train_seconds", rows, |r| r.train_seconds),
        column("mean_test_error", rows, |r| r.mean_test_error),
        column("auroc", rows, |r| r.auroc.estimate),
        column("auroc_low", rows, |r| r.auroc.low),
        column("auroc_high", rows, |r| r.auroc.high),
        column("auprc", rows, |r| r.auprc),
        column("percentile", rows, |r| r.percentile),
        column("tpr", rows, |r| r.tpr),
        column("fpr", rows, |r| r.fpr),
    ])
}

/// The comparison on unseen images as a table (the first model's gain
/// columns are empty).
pub fn unseen_comparison_table(rows: &[UnseenComparisonRow]) -> PolarsResult<DataFrame> {
    let gain = |f: fn(&ConfidenceInterval) -> f64| {
        move |r: &UnseenComparisonRow| r.auroc_gain.as_ref().map(f)
    };
    DataFrame::new_infer_height(vec![
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
    ])
}

/// The summary over seeds as a table.
pub fn seeds_table(rows: &[SeedSummary]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        column("model", rows, |r| r.model.as_str()),
        column("seeds", rows, |r| r.seeds as u64),
        column("mean_test_error", rows, |r| r.mean_test_error.mean),
        column("mean_test_error_std", rows, |r| r.mean_test_error.std),
        column("auroc", rows, |r| r.auroc.mean),
        column("auroc_std", rows, |r| r.auroc.std),
        column("auprc", rows, |r| r.auprc.mean),
        column("auprc_std", rows, |r| r.auprc.std),
        column("tpr", rows, |r| r.tpr.mean),
        column("tpr_std", rows, |r| r.tpr.std),
        column("fpr", rows, |r| r.fpr.mean),
        column("fpr_std", rows, |r| r.fpr.std),
    ])
}
